"""`jaxbpe.pack` against a plain-Python packer that follows its docstring literally."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxbpe

EOT, PAD = 99, -7


def reference_pack(tokens, counts, num_sequences, seq_len, groups=1):
    """Per group: each document's kept tokens then EOT, end to end, cut into rows."""
    batch, width = tokens.shape
    rows_per_group, docs_per_group = num_sequences // groups, batch // groups
    out = {k: np.zeros((num_sequences, seq_len), np.int64) for k in ("tokens", "segment_ids", "positions")}
    out["tokens"][:] = PAD
    loss_mask = np.zeros((num_sequences, seq_len), bool)
    dropped = []
    for g in range(groups):
        stream = []  # (token, document number)
        total = 0
        for b in range(g * docs_per_group, (g + 1) * docs_per_group):
            if counts[b] > 0:
                stream += [(int(t), b) for t in tokens[b, : min(counts[b], width)]] + [(EOT, b)]
                total += counts[b] + 1
        capacity = rows_per_group * seq_len
        dropped.append(total - min(len(stream), capacity))
        for r in range(rows_per_group):
            row = stream[r * seq_len : (r + 1) * seq_len]
            s = g * rows_per_group + r
            segment, position, previous_doc = 0, 0, None
            for i, (token, document) in enumerate(row):
                if document != previous_doc:
                    segment, position, previous_doc = segment + 1, 0, document
                out["tokens"][s, i], out["segment_ids"][s, i], out["positions"][s, i] = token, segment, position
                position += 1
                loss_mask[s, i] = i + 1 < len(row) and row[i + 1][1] == document
    return out["tokens"], out["segment_ids"], out["positions"], loss_mask, np.array(dropped)


def random_batch(rng, batch, width):
    counts = rng.integers(0, width + 4, size=batch)  # some empty, some truncated by encode
    counts[rng.random(batch) < 0.2] = 0
    tokens = rng.integers(0, 50, size=(batch, width))
    tokens[np.arange(width) >= counts[:, None]] = -1  # encode's padding
    return tokens.astype(np.int32), counts.astype(np.int32)


@pytest.mark.parametrize("seed", range(12))
def test_pack_equals_reference_on_random_ragged_batches(seed):
    rng = np.random.default_rng(seed)
    groups = [1, 2, 4][seed % 3]
    batch = groups * int(rng.integers(1, 5))
    num_sequences, seq_len = groups * int(rng.integers(1, 4)), int(rng.integers(1, 13))
    tokens, counts = random_batch(rng, batch, int(rng.integers(1, 9)))
    packed = jax.jit(
        lambda t, c: jaxbpe.pack(
            t, c, num_sequences=num_sequences, seq_len=seq_len, eot_id=EOT, pad_id=PAD, groups=groups
        )
    )(tokens, counts)
    expected = reference_pack(tokens, counts, num_sequences, seq_len, groups)
    for field, got, want in zip(packed._fields, packed, expected):
        np.testing.assert_array_equal(np.asarray(got), want, err_msg=field)


def test_pack_documents_that_fit_lose_nothing():
    tokens = np.array([[1, 2, 3], [4, 5, -1], [6, -1, -1]], np.int32)
    counts = np.array([3, 2, 1], np.int32)
    packed = jaxbpe.pack(tokens, counts, num_sequences=2, seq_len=6, eot_id=EOT, pad_id=PAD)
    np.testing.assert_array_equal(packed.tokens, [[1, 2, 3, EOT, 4, 5], [EOT, 6, EOT, PAD, PAD, PAD]])
    np.testing.assert_array_equal(packed.segment_ids, [[1, 1, 1, 1, 2, 2], [1, 2, 2, 0, 0, 0]])
    np.testing.assert_array_equal(packed.positions, [[0, 1, 2, 3, 0, 1], [0, 0, 1, 0, 0, 0]])
    np.testing.assert_array_equal(packed.loss_mask, [[1, 1, 1, 0, 1, 0], [0, 1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(packed.dropped, [0])


def test_pack_counts_the_overflow_and_encode_truncation_as_dropped():
    tokens = np.array([[1, 2], [3, 4]], np.int32)
    counts = np.array([5, 2], np.int32)  # row 0 lost 3 tokens in encode
    packed = jaxbpe.pack(tokens, counts, num_sequences=1, seq_len=4, eot_id=EOT)
    np.testing.assert_array_equal(packed.tokens, [[1, 2, EOT, 3]])
    np.testing.assert_array_equal(packed.dropped, [3 + 2])  # 3 cut by encode, "4" and EOT


def test_pack_under_vmap_equals_pack_per_item():
    rng = np.random.default_rng(0)
    batches = [random_batch(rng, 4, 5) for _ in range(3)]
    tokens, counts = np.stack([b[0] for b in batches]), np.stack([b[1] for b in batches])
    pack = lambda t, c: jaxbpe.pack(t, c, num_sequences=2, seq_len=7, eot_id=EOT)  # noqa: E731
    vmapped = jax.jit(jax.vmap(pack))(tokens, counts)
    for i, (t, c) in enumerate(batches):
        for got, want in zip(vmapped, pack(t, c)):
            np.testing.assert_array_equal(got[i], want)


def test_pack_after_encode_round_trips_the_documents():
    enc = jaxbpe.get_encoding("gpt2")
    texts = ["hello world", "", "a second document", "x" * 40]
    data, lengths = jaxbpe.to_bytes_batch(texts)
    packed = jax.jit(
        lambda enc, d, n: jaxbpe.pack(*jaxbpe.encode(enc, d, n), num_sequences=4, seq_len=16, eot_id=enc.eot_token)
    )(enc, data, lengths)
    stream = np.asarray(packed.tokens)[np.asarray(packed.segment_ids) > 0]
    expected = [t for text in texts if text for t in enc.encode(text) + [enc.eot_token]]
    assert stream.tolist() == expected
    assert int(packed.dropped[0]) == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_sequences": 0}, "num_sequences must be a positive int, got 0"),
        ({"seq_len": 2.5}, "seq_len must be a positive int, got 2.5"),
        ({"groups": 3}, "groups=3 must divide the batch"),
        ({"eot_id": 2**31}, "eot_id must be an int32"),
    ],
)
def test_pack_rejects_bad_arguments(kwargs, message):
    args = {"num_sequences": 2, "seq_len": 4, "eot_id": EOT} | kwargs
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        jaxbpe.pack(np.zeros((2, 3), np.int32), np.zeros(2, np.int32), **args)


def test_pack_rejects_mismatched_counts():
    with pytest.raises(TypeError, match=r"counts must be int32\[2\]"):
        jaxbpe.pack(np.zeros((2, 3), np.int32), np.zeros(3, np.int32), num_sequences=1, seq_len=4, eot_id=EOT)
