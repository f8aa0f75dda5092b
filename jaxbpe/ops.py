"""The jit-able operations: `encode` as an XLA FFI custom call, and the byte layout."""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _native, lowering, sharding
from .core import AllowedSpecial, Encoding


class EncodeStatus(enum.IntFlag):
    """Bits of the per-row status that `encode(..., return_status=True)` returns."""

    OK = 0
    LENGTH_CLAMPED = _native.STATUS_LENGTH_CLAMPED  # the row's length was outside [0, L] (inside jit) and was clamped
    TRUNCATED = _native.STATUS_TRUNCATED  # the row has more than max_tokens tokens; those past it were dropped


# Rows are at most this many bytes: lengths and token counts are int32.
MAX_ROW_BYTES: int = _native.MAX_ROW_BYTES


def device_memory_bytes(
    enc: Encoding,
    rows: int,
    row_len: int,
    *,
    max_tokens: int | None = None,
    allowed_special: AllowedSpecial = frozenset(),
) -> int:
    """Bytes of device memory `encode`'s CUDA call takes for a batch of `rows` rows of
    `row_len` bytes: the parallel encoder's workspace and the three results (the input
    not counted). At most 16 bytes per input byte at the default max_tokens."""
    max_tokens = row_len if max_tokens is None else max_tokens
    specials = int(_native.specials_header(enc.native_specials(allowed_special))[0]) > 0
    workspace = lowering.cuda_workspace_bytes(rows, row_len, max_tokens, specials, not enc.merges_in_rank_order)
    return workspace + 4 * rows * (max_tokens + 2)


def encode(
    enc: Encoding,
    data: jax.Array,
    lengths: jax.Array,
    *,
    max_tokens: int | None = None,
    pad_id: int = -1,
    allowed_special: AllowedSpecial = frozenset(),
    return_status: bool = False,
) -> tuple[jax.Array, jax.Array] | tuple[jax.Array, jax.Array, jax.Array]:
    """Tokenizes a batch of byte rows inside or outside `jax.jit`.

    Args:
      enc: the encoding; pass it as an argument of the jitted function (it is a pytree).
      data: uint8[B, L], row b holding its text's UTF-8 bytes in data[b, :lengths[b]].
        Any bytes are accepted: invalid UTF-8 bytes are tokenized as their single bytes
        and decode back unchanged.
      lengths: int32[B]. A length outside [0, L] raises ValueError when lengths are
        concrete; inside jit it cannot, so it is clamped and the row's status says so.
      max_tokens: static width of the result; default L, which always suffices.
      pad_id: fills the result past each row's tokens.
      allowed_special: special tokens (static) encoded as their ids; any other special
        token text is encoded as ordinary text, like `Encoding.encode_ordinary`.
      return_status: also return each row's `EncodeStatus` bits.

    Returns:
      tokens: int32[B, max_tokens], padded with pad_id.
      counts: int32[B], each row's full token count, even where it exceeds max_tokens.
      status (only with return_status): int32[B], `EncodeStatus` bits per row.
    """
    # Check dtypes before jnp.asarray, which would quietly narrow int64 to int32.
    if getattr(data, "dtype", None) != np.uint8 or np.ndim(data) != 2:
        raise TypeError(f"data must be uint8[batch, length], got {_describe(data)}")
    if getattr(lengths, "dtype", None) != np.int32 or np.shape(lengths) != np.shape(data)[:1]:
        raise TypeError(f"lengths must be int32[{np.shape(data)[0]}], got {_describe(lengths)}")
    if np.shape(data)[1] > MAX_ROW_BYTES:
        raise ValueError(f"rows of {np.shape(data)[1]} bytes exceed the int32 lengths jaxbpe uses")
    if not isinstance(lengths, jax.core.Tracer):
        _check_lengths(np.asarray(lengths), np.shape(data)[1])
    data, lengths = jnp.asarray(data), jnp.asarray(lengths)
    if max_tokens is None:
        max_tokens = data.shape[1]
    if not isinstance(max_tokens, (int, np.integer)) or max_tokens < 0:
        raise ValueError(f"max_tokens must be a non-negative int, got {max_tokens!r}")
    if not -(2**31) <= pad_id < 2**31:
        raise ValueError(f"pad_id must fit in int32, got {pad_id}")
    pattern = enc.native_pattern_id()  # refuses a pattern that only the host can split
    specials = enc.native_specials(allowed_special)
    rows = functools.partial(
        lowering.encode_rows,
        host=enc._native,
        pattern=pattern,
        max_tokens=int(max_tokens),
        pad_id=int(pad_id),
        specials_header=tuple(_native.specials_header(specials).tolist()),
    )
    # Per shard of the batch, and vmapped row-wise (see sharding.py).
    tokens, counts, status = sharding.row_parallel(rows, (enc.tables, jnp.asarray(specials)), (data, lengths))
    return (tokens, counts, status) if return_status else (tokens, counts)


def _describe(x) -> str:
    """An operand's dtype and shape, e.g. int64[2, 4], or the type of a non-array."""
    return f"{x.dtype}{list(np.shape(x))}" if hasattr(x, "dtype") else type(x).__name__


def _check_lengths(lengths: np.ndarray, row_len: int) -> None:
    """Concrete lengths can raise, so a bad one is an error rather than clamped."""
    bad = np.flatnonzero((lengths < 0) | (lengths > row_len))
    if bad.size:
        raise ValueError(f"lengths[{bad[0]}] = {lengths[bad[0]]} is outside [0, {row_len}], the row's bytes")


def to_bytes_batch(texts: Sequence[str | bytes], *, row_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lays texts out as `jaxbpe.encode` takes them: (uint8[B, L], int32[B]).

    L is `row_len`, by default the longest text's byte length; a longer text is an error.
    """
    rows = [t.encode("utf-8", "surrogatepass") if isinstance(t, str) else bytes(t) for t in texts]
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    width = int(lengths.max(initial=0)) if row_len is None else row_len
    if lengths.size and lengths.max() > width:
        raise ValueError(f"text {int(lengths.argmax())} has {int(lengths.max())} bytes, more than row_len={width}")
    if width > MAX_ROW_BYTES:
        raise ValueError(f"rows of {width} bytes exceed the int32 lengths jaxbpe uses")
    data = np.zeros((len(rows), max(width, 1)), dtype=np.uint8)
    for i, r in enumerate(rows):
        data[i, : len(r)] = np.frombuffer(r, dtype=np.uint8)
    return data, lengths.astype(np.int32)
