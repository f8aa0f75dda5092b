"""jaxbpe: exact byte-level BPE (tiktoken's encodings) inside jax.jit, on CPU and GPU.

The module is also tiktoken's: `import jaxbpe as tiktoken` gives code written for
tiktoken 0.14 its whole API (`get_encoding`, `encoding_for_model`, `Encoding`,
`jaxbpe.load`, `jaxbpe.model`, `jaxbpe.registry`)."""

from __future__ import annotations

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"

from . import load, model, registry
from .core import Encoding
from .decode import Decoded, DecodeTable, StreamDecoder, decode, decode_table
from .model import encoding_for_model, encoding_name_for_model
from .ops import EncodeStatus, device_memory_bytes, encode, to_bytes_batch
from .pack import Packed, pack
from .registry import KNOWN_ENCODINGS, get_encoding, known_encoding, list_encoding_names, rank_file_bytes
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
    "device_memory_bytes",
    "encode",
    "encoding_for_model",
    "encoding_name_for_model",
    "get_encoding",
    "known_encoding",
    "KNOWN_ENCODINGS",
    "list_encoding_names",
    "load",
    "model",
    "parse_tiktoken_bpe",
    "rank_file_bytes",
    "registry",
    "pack",
    "to_bytes_batch",
]
