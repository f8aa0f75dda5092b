"""`pack`: tokenized documents → fixed-shape training sequences, inside jit."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from . import sharding


class Packed(NamedTuple):
    """Training sequences, each int32/bool[num_sequences, seq_len] except `dropped`."""

    tokens: jax.Array
    segment_ids: jax.Array
    positions: jax.Array
    loss_mask: jax.Array
    dropped: jax.Array


def pack(
    tokens: jax.Array,
    counts: jax.Array,
    *,
    num_sequences: int,
    seq_len: int,
    eot_id: int,
    pad_id: int = 0,
    groups: int = 1,
) -> Packed:
    """Packs tokenized documents into `num_sequences` rows of `seq_len` tokens.

    The documents of a group (row b holding its tokens in tokens[b, :counts[b]], as
    `jaxbpe.encode` returns them) are laid end to end in order, each followed by
    `eot_id`, and that stream is cut into the group's rows: a document that reaches the
    end of a row continues at the start of the next, as a new segment there. What does
    not fit in the group's rows is dropped. A row with counts[b] == 0 is no document
    (no end-of-text token), so empty batch rows cost nothing; a row whose count exceeds
    T (truncated by `encode`) contributes its T tokens and then `eot_id`.

    With `groups` > 1 the batch and the sequences are split into that many contiguous,
    equal groups (group g packs batch rows [g*B/groups, (g+1)*B/groups) into sequences
    [g*S/groups, (g+1)*S/groups)) that never exchange tokens, so a batch sharded over
    `groups` devices packs on each device without cross-device traffic. A batch sharded
    over explicit mesh axes (see `jaxbpe.sharding`) is packed shard by shard, so groups
    must then be a multiple of the number of shards, and the results stay sharded.

    Args:
      tokens: int32[B, T] token ids.
      counts: int32[B] token counts per row (full counts, may exceed T).
      num_sequences: S, the static number of rows of the result; a multiple of groups.
      seq_len: L, the static length of each row.
      eot_id: the token placed after each document, e.g. `enc.eot_token`.
      pad_id: fills positions after a group's stream ends.
      groups: number of independent groups; must divide B and S.

    Returns:
      Packed with
      tokens: int32[S, L], the stream, then pad_id.
      segment_ids: int32[S, L], 1, 2, ... for the segments (parts of documents) of each
        row in order, 0 on padding. Attention should stay within a segment.
      positions: int32[S, L], position within the segment, 0 on padding; so a document
        continued from the previous row restarts at 0 and every position is < L.
      loss_mask: bool[S, L], True at i where tokens[:, i + 1] is the next token of the
        same segment, i.e. the next-token loss is
        `cross_entropy(logits[:, :-1], tokens[:, 1:])` weighted by `loss_mask[:, :-1]`.
      dropped: int32[groups], per group the tokens (end-of-text tokens included) of
        sum(counts[b] + 1 for documents b) that are not in the result: the stream past
        the group's S/groups * L slots, plus the tokens `encode` cut off (counts[b] - T).
    """
    if np.ndim(tokens) != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise TypeError(f"tokens must be int32[batch, max_tokens], got {tokens.dtype}{list(np.shape(tokens))}")
    if np.shape(counts) != np.shape(tokens)[:1] or not jnp.issubdtype(counts.dtype, jnp.integer):
        raise TypeError(f"counts must be int32[{np.shape(tokens)[0]}], got {counts.dtype}{list(np.shape(counts))}")
    for arg, value in (("num_sequences", num_sequences), ("seq_len", seq_len), ("groups", groups)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{arg} must be a positive int, got {value!r}")
    batch = tokens.shape[0]
    if batch == 0 or batch % groups or num_sequences % groups:
        raise ValueError(f"groups={groups} must divide the batch ({batch}, not 0) and num_sequences ({num_sequences})")
    for arg, value in (("eot_id", eot_id), ("pad_id", pad_id)):
        if not isinstance(value, (int, np.integer)) or not -(2**31) <= value < 2**31:
            raise ValueError(f"{arg} must be an int32, got {value!r}")
    tokens, counts = jnp.asarray(tokens, jnp.int32), jnp.asarray(counts, jnp.int32)
    # A batch sharded over explicit mesh axes packs shard by shard (see sharding.py).
    axes = sharding.batch_axes(tokens)
    shards = sharding.shards(axes)
    if groups % shards:
        raise ValueError(f"groups={groups} must be a multiple of the {shards} shards of the batch (axes {axes})")

    def pack_groups(tokens, counts):
        local_groups = groups // shards
        pack_group = jax.vmap(
            lambda t, c: _pack_group(t, c, num_sequences // groups, seq_len, eot_id, pad_id),
        )
        packed = pack_group(
            tokens.reshape(local_groups, tokens.shape[0] // local_groups, -1),
            counts.reshape(local_groups, -1),
        )
        rows = lambda x: x.reshape(-1, seq_len)  # noqa: E731
        return Packed(rows(packed.tokens), rows(packed.segment_ids), rows(packed.positions), rows(packed.loss_mask),
                      packed.dropped)

    return sharding.map_over_batch(pack_groups, P(axes) if axes else None, (), (tokens, counts))


def _pack_group(tokens, counts, num_sequences, seq_len, eot_id, pad_id) -> Packed:
    width = tokens.shape[1]
    # Each document is its tokens (as many as `encode` kept) and an end-of-text token.
    doc_len = jnp.where(counts > 0, jnp.minimum(counts, width) + 1, 0)
    doc_end = jnp.cumsum(doc_len)
    stream_len = doc_end[-1]
    slot = jnp.arange(num_sequences * seq_len, dtype=jnp.int32).reshape(num_sequences, seq_len)
    filled = slot < stream_len
    # The document each slot falls in, and the slot's index within it.
    doc = jnp.minimum(jnp.searchsorted(doc_end, slot, side="right"), tokens.shape[0] - 1)
    within = slot - (doc_end - doc_len)[doc]
    is_eot = within == doc_len[doc] - 1
    token = jnp.where(is_eot, eot_id, tokens[doc, jnp.minimum(within, width - 1)])
    column = jnp.arange(seq_len, dtype=jnp.int32)
    # A segment starts where a document starts, or where it continues in a new row.
    starts = filled & ((within == 0) | (column == 0))
    next_continues = jnp.pad(filled[:, 1:] & ~starts[:, 1:], ((0, 0), (0, 1)))
    total = jnp.sum(jnp.where(counts > 0, counts + 1, 0))
    return Packed(
        tokens=jnp.where(filled, token, pad_id),
        segment_ids=jnp.where(filled, jnp.cumsum(starts, axis=1, dtype=jnp.int32), 0),
        # Within the row the segment started `within` slots ago, or at column 0.
        positions=jnp.where(filled, jnp.minimum(within, column), 0),
        loss_mask=filled & next_continues,
        dropped=total - jnp.minimum(stream_len, num_sequences * seq_len),
    )
