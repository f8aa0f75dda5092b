"""jaxbpe: exact byte-level BPE (tiktoken's encodings) inside jax.jit, on CPU and GPU."""

from __future__ import annotations

import functools

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"

from .core import Encoding
from .decode import Decoded, DecodeTable, StreamDecoder, decode, decode_table
from .ops import EncodeStatus, encode, to_bytes_batch
from .pack import Packed, pack
from .registry import KNOWN_ENCODINGS, known_encoding, rank_file_bytes
from .vocab import VocabularyError, parse_tiktoken_bpe

__all__ = [
    "__version__",
    "Decoded",
    "DecodeTable",
    "EncodeStatus",
    "Encoding",
    "VocabularyError",
    "Packed",
    "StreamDecoder",
    "decode",
    "decode_table",
    "encode",
    "get_encoding",
    "list_encoding_names",
    "pack",
    "to_bytes_batch",
]


def list_encoding_names() -> list[str]:
    return list(KNOWN_ENCODINGS)


@functools.lru_cache(maxsize=None)
def get_encoding(name: str) -> Encoding:
    """A known encoding ("gpt2", "r50k_base", "p50k_base", "cl100k_base", "o200k_base",
    "o200k_harmony"). Its rank file is looked up in $JAXBPE_VOCAB_DIR, jaxbpe's cache and
    tiktoken's cache, and fetched when absent; its sha256 is always verified."""
    known = known_encoding(name)
    f = known.ranks
    return Encoding(
        name,
        pattern=known.pattern,
        mergeable_ranks=parse_tiktoken_bpe(rank_file_bytes(f), f.filename),
        special_tokens=known.special_tokens,
    )
