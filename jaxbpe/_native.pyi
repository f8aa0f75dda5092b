"""jaxbpe's native core: tables, host encoder and the CPU XLA FFI handler"""

from collections.abc import Sequence
from typing import Annotated

import numpy
from numpy.typing import NDArray


def build_tables(token_bytes: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], token_offsets: Annotated[NDArray[numpy.int32], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> Annotated[NDArray[numpy.uint8], dict(shape=(None,))]:
    """
    Packs a vocabulary (token i is token_bytes[offsets[i]:offsets[i+1]]) into a tables blob.
    """

def build_specials(tokens: Sequence[tuple[bytes, int]]) -> Annotated[NDArray[numpy.uint8], dict(shape=(None,))]:
    """Packs (bytes, id) special tokens into a special-tokens blob."""

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
    def __init__(self, tables: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], pattern: int) -> None: ...

    @property
    def n_tokens(self) -> int: ...

    def encode(self, text: bytes, specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> Annotated[NDArray[numpy.int32], dict(shape=(None,))]: ...

    def encode_list(self, text: bytes, specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> list: ...

    def encode_batch(self, texts: Sequence[bytes], specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], num_threads: int) -> list[list]: ...

    def encode_rows(self, data: Annotated[NDArray[numpy.uint8], dict(shape=(None, None), order='C', device='cpu', writable=False)], lengths: Annotated[NDArray[numpy.int32], dict(shape=(None,), order='C', device='cpu', writable=False)], specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)], max_tokens: int, pad_id: int) -> tuple: ...

    def decode(self, ids: Annotated[NDArray[numpy.int64], dict(shape=(None,), order='C', device='cpu', writable=False)], specials: Annotated[NDArray[numpy.uint8], dict(shape=(None,), order='C', device='cpu', writable=False)]) -> bytes: ...

    def piece_bounds(self, text: bytes) -> Annotated[NDArray[numpy.int64], dict(shape=(None,))]: ...
