"""Decoding: token ids → UTF-8 bytes inside jit (`decode`), and text streamed out of a
generation loop on the host without splitting a character (`StreamDecoder`)."""

from __future__ import annotations

import codecs
import functools
import weakref
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import sharding
from .core import Encoding


class DecodeTable(NamedTuple):
    """Every id's bytes, as a pytree: pass it to jitted functions as an argument so the
    bytes are an operand on the device rather than a constant in each program."""

    token_bytes: jax.Array  # uint8[total bytes], all tokens' bytes end to end
    offsets: jax.Array  # int32[n_vocab + 1]; id i is token_bytes[offsets[i]:offsets[i+1]]


class Decoded(NamedTuple):
    bytes: jax.Array  # uint8[B, max_bytes]
    lengths: jax.Array  # int32[B]
    overflow: jax.Array  # bool[B]
    invalid: jax.Array  # bool[B]


# One DecodeTable per encoding, held as long as the encoding is.
_TABLES: weakref.WeakKeyDictionary[Encoding, DecodeTable] = weakref.WeakKeyDictionary()


def decode_table(enc: Encoding) -> DecodeTable:
    """The encoding's `DecodeTable` on the default device, built once per encoding from
    `enc.decode_arrays`. Ids that are no token (gaps between ordinary and special ids)
    have no bytes; an id with several special-token names decodes as its first."""
    if (table := _TABLES.get(enc)) is None:
        table = _TABLES[enc] = DecodeTable(*(jax.device_put(a) for a in enc.decode_arrays))
    return table


def decode(
    enc: Encoding | DecodeTable,
    ids: jax.Array,
    *,
    max_bytes: int,
    pad_id: int = -1,
) -> Decoded:
    """Turns token ids into their bytes inside or outside `jax.jit`, without the host.

    Args:
      enc: the encoding, or (better inside jit) its `decode_table(enc)` passed as an
        argument: an Encoding's table is closed over and so embedded in the program.
      ids: int32[B, T] token ids (special tokens decode to their text). Ids equal to
        pad_id are skipped anywhere in a row.
      max_bytes: static width of the result.
      pad_id: the id to skip.

    Returns:
      Decoded with
      bytes: uint8[B, max_bytes], row b's bytes in bytes[b, :min(lengths[b], max_bytes)],
        then zeros. They may end inside a multi-byte character (see `StreamDecoder`).
      lengths: int32[B], each row's full byte count, even where it exceeds max_bytes.
      overflow: bool[B], lengths > max_bytes: the row is truncated.
      invalid: bool[B], the row holds an id (other than pad_id) that is no token of the
        encoding, e.g. negative or >= n_vocab; such ids are skipped.
    """
    table = enc if isinstance(enc, DecodeTable) else decode_table(enc)
    if np.ndim(ids) != 2 or not jnp.issubdtype(ids.dtype, jnp.integer):
        raise TypeError(f"ids must be int32[batch, tokens], got {ids.dtype}{list(np.shape(ids))}")
    if not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
        raise ValueError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
    if not isinstance(pad_id, (int, np.integer)) or not -(2**31) <= pad_id < 2**31:
        raise ValueError(f"pad_id must be an int32, got {pad_id!r}")
    ids = jnp.asarray(ids, jnp.int32)
    # Decoded shard by shard under explicit sharding (see sharding.py).
    rows = functools.partial(_decode_rows, max_bytes=max_bytes, pad_id=pad_id)
    return sharding.map_over_batch(rows, sharding.explicit_batch_spec(ids), tuple(table), (ids,))


def _decode_rows(token_bytes, offsets, ids, *, max_bytes, pad_id) -> Decoded:
    table = DecodeTable(token_bytes, offsets)
    n_vocab = table.offsets.shape[0] - 1
    in_range = (ids >= 0) & (ids < n_vocab)
    safe = jnp.where(in_range, ids, 0)
    start = table.offsets[safe]
    size = jnp.where(in_range, table.offsets[safe + 1] - start, 0)
    invalid = (ids != pad_id) & (size == 0)
    size = jnp.where(ids == pad_id, 0, size)
    end = jnp.cumsum(size, axis=1)
    lengths = end[:, -1] if ids.shape[1] else jnp.zeros(ids.shape[0], jnp.int32)
    # Output byte j of a row is in the token whose end is the first one past j.
    j = jnp.arange(max_bytes, dtype=jnp.int32)
    token = jax.vmap(lambda e: jnp.searchsorted(e, j, side="right"))(end)
    token = jnp.minimum(token, max(ids.shape[1] - 1, 0))
    take = lambda x: jnp.take_along_axis(x, token, axis=1)  # noqa: E731
    source = take(start) + j - (take(end) - take(size))
    filled = j < lengths[:, None]
    out = jnp.where(filled, table.token_bytes[jnp.where(filled, source, 0)], 0).astype(jnp.uint8)
    return Decoded(out, lengths, lengths > max_bytes, jnp.any(invalid, axis=1))


class StreamDecoder:
    """Text of a token stream, piece by piece, never splitting a character.

    `push(ids)` returns the text of the bytes so far except an incomplete UTF-8
    sequence at the end, which it holds back until the next push completes it (a
    character's bytes are often spread over several tokens). Bytes that can never be
    part of a character become U+FFFD as with `bytes.decode(errors="replace")`, so the
    pieces of a finished stream (after `flush()`) join to `enc.decode(all ids)`.
    """

    def __init__(self, enc: Encoding):
        self._enc = enc
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, ids) -> str:
        """The new text that `ids` (token ids, e.g. a generation step's) complete."""
        return self._utf8.decode(self._enc.decode_bytes(ids), final=False)

    def flush(self) -> str:
        """The held-back bytes of an unfinished character, as U+FFFD; resets."""
        return self._utf8.decode(b"", final=True)
