"""What the tests use to check code that only runs elsewhere.

The CUDA custom call runs the staged parallel encoder (xla_ffi/jaxbpe/pipeline.h).
`pipeline_encode` runs the very same stages on the host executor, so that machines
without a GPU check every line of the GPU's tokenizer logic; `order_seed` runs each
stage's indices in a shuffled order, which changes nothing unless a stage reads what
another index of it writes (a race on the GPU).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _native
from .core import AllowedSpecial, Encoding


class PipelineRun(NamedTuple):
    tokens: np.ndarray  # int32[B, max_tokens]
    counts: np.ndarray  # int32[B]
    status: np.ndarray  # int32[B], EncodeStatus bits
    workspace: np.ndarray  # uint8[...], every intermediate buffer of the stages


def pipeline_run(
    enc: Encoding,
    data: np.ndarray,
    lengths: np.ndarray,
    *,
    chunk_bytes: int,
    order_seed: int | None = None,
    max_tokens: int | None = None,
    pad_id: int = -1,
    allowed_special: AllowedSpecial = frozenset(),
) -> PipelineRun:
    """Everything the staged parallel encoder computes for a batch laid out as
    `jaxbpe.encode` takes it, its workspace included (zeroed before the run, so that two
    runs compare byte for byte)."""
    data = np.ascontiguousarray(data, dtype=np.uint8)
    lengths = np.ascontiguousarray(lengths, dtype=np.int32)
    specials = enc.native_specials(allowed_special)
    width = data.shape[1] if max_tokens is None else max_tokens
    return PipelineRun(
        *_native.pipeline_encode(
            enc.host_tables, specials, enc.native_pattern_id(), data, lengths, width, pad_id, chunk_bytes, order_seed
        )
    )


def pipeline_encode(
    enc: Encoding,
    data: np.ndarray,
    lengths: np.ndarray,
    *,
    chunk_bytes: int,
    order_seed: int | None = None,
    max_tokens: int | None = None,
    allowed_special: AllowedSpecial = frozenset(),
) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, counts) of the staged parallel encoder on the host, as the CUDA custom
    call computes them: exactly `jaxbpe.encode`'s, padded with -1."""
    run = pipeline_run(
        enc,
        data,
        lengths,
        chunk_bytes=chunk_bytes,
        order_seed=order_seed,
        max_tokens=max_tokens,
        allowed_special=allowed_special,
    )
    return run.tokens, run.counts


def chunked_encode(
    enc: Encoding, text: str | bytes, *, parts: int, threads: int = 1, allowed_special: AllowedSpecial = frozenset()
) -> list[int]:
    """The ids of one text encoded as `parts` chunks joined at their seams, as the host
    API and the CPU custom call encode long texts on several threads."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    return enc._native.encode_in_chunks(data, enc.native_specials(allowed_special), parts, threads)


def piece_bounds(enc: Encoding, text: str | bytes) -> list[int]:
    """Where the native pre-tokenizer splits text (no special tokens): the byte offset of
    each piece's start, then the text's length."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    return enc._native.piece_bounds(data).tolist()
