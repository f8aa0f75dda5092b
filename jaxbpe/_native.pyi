"""jaxbpe's native core: tables, host encoder and the CPU XLA FFI handler"""

from collections.abc import Sequence
from typing import Annotated, Final

import numpy
from numpy.typing import NDArray


def build_specials(tokens: Sequence[tuple[bytes, int]]) -> Annotated[NDArray[numpy.uint8], dict(shape=(None,))]:
    """Packs (bytes, id) special tokens into a special-tokens blob."""

PIPELINE_CHUNK_BYTES: int = ...

def pipeline_encode(tables: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], pattern: int, data: Annotated[NDArray[numpy.uint8], dict(shape=(None, None), order='C', device='cpu', writable=False)], lengths: Annotated[NDArray[numpy.int32], dict(shape=(None,), order='C', device='cpu', writable=False)], max_tokens: int, pad_id: int, chunk_bytes: int, order_seed: int | None) -> tuple:
    """
    The staged parallel encoder on the host executor: (tokens, counts, status, workspace).
    """

def pipeline_workspace_bytes(rows: int, row_len: int, max_tokens: int, chunk_bytes: int, specials: bool, heap_merge: bool) -> int:
    """
    Bytes of workspace the staged parallel encoder needs for these static shapes.
    """

def specials_header(blob: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> Annotated[NDArray[numpy.int64], dict(shape=(None,))]:
    """
    int64[2]: the count and the longest token's bytes of a special-tokens blob.
    """

def nfc(text: bytes) -> bytes:
    """
    The NFC form of UTF-8 text, as Hugging Face tokenizers' NFC normalizer gives it.
    """

def codepoint_classes() -> Annotated[NDArray[numpy.uint8], dict(shape=(None,))]:
    """
    uint8[0x110000]: the class bits (unicode.h) the pre-tokenizers use for each code point.
    """

PATTERN_IDS: dict = ...

STATUS_LENGTH_CLAMPED: int = ...

STATUS_TRUNCATED: int = ...

MAX_ROW_BYTES: int = ...

def registrations() -> dict: ...

class HostEncoder:
    def __init__(self, token_bytes: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], token_offsets: Annotated[NDArray[numpy.int32], dict(shape=(None,), order='C', device='cpu', writable=False)], pattern: int) -> None:
        """
        Builds the tables of a vocabulary (token i is token_bytes[offsets[i]:offsets[i+1]], empty for an id that is no token); pattern -1: no native pre-tokenizer.
        """

    NO_PATTERN: Final[int] = ...
    """(arg: object, /) -> int"""

    @property
    def n_tokens(self) -> int: ...

    @property
    def merges_in_rank_order(self) -> bool: ...

    @property
    def tables_header(self) -> Annotated[NDArray[numpy.int64], dict(shape=(None,))]: ...

    @property
    def tables(self) -> Annotated[NDArray[numpy.uint8], dict(shape=(None,), writable=False)]: ...

    @property
    def token_bytes(self) -> Annotated[NDArray[numpy.uint8], dict(shape=(None,), writable=False)]: ...

    @property
    def token_offsets(self) -> Annotated[NDArray[numpy.int32], dict(shape=(None,), writable=False)]: ...

    def token_id(self, piece: bytes) -> int: ...

    def encode(self, text: bytes, specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> Annotated[NDArray[numpy.int32], dict(shape=(None,))]: ...

    def encode_list(self, text: bytes, specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> list: ...

    def encode_batch(self, texts: Sequence[bytes], specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], num_threads: int) -> list[list]: ...

    def encode_pieces(self, text: bytes, starts: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], ends: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> list: ...

    def byte_pair_encode(self, piece: bytes) -> list: ...

    def encode_rows(self, data: Annotated[NDArray[numpy.uint8], dict(shape=(None, None), order='C', device='cpu', writable=False)], lengths: Annotated[NDArray[numpy.int32], dict(shape=(None,), order='C', device='cpu', writable=False)], specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], max_tokens: int, pad_id: int) -> tuple: ...

    def decode(self, ids: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> bytes: ...

    def encode_in_chunks(self, text: bytes, specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], parts: int, threads: int) -> list: ...

    def piece_bounds(self, text: bytes) -> Annotated[NDArray[numpy.int64], dict(shape=(None,))]: ...
