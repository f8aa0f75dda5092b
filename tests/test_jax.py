"""`jaxbpe.encode` inside JAX: shapes, padding, truncation, invalid bytes, pytrees, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbpe


@pytest.fixture(scope="module")
def gpt2():
    return jaxbpe.get_encoding("gpt2")


def rows(tokens, counts):
    tokens, counts = np.asarray(tokens), np.asarray(counts)
    return [tokens[i, : min(counts[i], tokens.shape[1])].tolist() for i in range(len(counts))]


def test_encoding_is_a_pytree_with_the_tables_as_its_only_leaf(gpt2):
    leaves, treedef = jax.tree_util.tree_flatten(gpt2)
    assert len(leaves) == 1 and leaves[0].dtype == jnp.uint8
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.encode("pytree") == gpt2.encode("pytree")


def test_tables_are_an_operand_not_a_constant(gpt2):
    data, lengths = jaxbpe.to_bytes_batch(["hello"])
    hlo = jax.jit(jaxbpe.encode).lower(gpt2, data, lengths).as_text()
    assert "jaxbpe_encode" in hlo
    assert len(hlo) < 100_000, "the tables were embedded in the program"


def older_version(blob: np.ndarray) -> np.ndarray:
    blob = blob.copy()
    blob[4:8].view(np.uint32)[0] -= 1  # the header's second word is the layout's version
    return blob


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda blob: np.zeros(1000, np.uint8), r"not a jaxbpe tables blob \(bad magic\)"),
        (lambda blob: blob[:-8], r"jaxbpe tables blob has the wrong size \(truncated\?\)"),
        (older_version, "jaxbpe tables blob of another version"),
    ],
)
def test_tables_that_are_not_an_encodings_are_refused_not_read(gpt2, tamper, message):
    leaves, treedef = jax.tree_util.tree_flatten(gpt2)
    tampered = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(tamper(np.asarray(leaves[0])))])
    with pytest.raises(jax.errors.JaxRuntimeError, match=f"INVALID_ARGUMENT: {message}"):
        jax.jit(jaxbpe.encode)(tampered, *jaxbpe.to_bytes_batch(["hello"]))


def test_rows_are_padded_with_pad_id(gpt2):
    data, lengths = jaxbpe.to_bytes_batch(["a b c", "", "x"])
    tokens, counts = jaxbpe.encode(gpt2, data, lengths, pad_id=-7)
    assert rows(tokens, counts) == [gpt2.encode("a b c"), [], gpt2.encode("x")]
    tokens = np.asarray(tokens)
    assert (tokens[1] == -7).all() and (tokens[2, 1:] == -7).all()


def test_max_tokens_truncates_but_counts_every_token(gpt2):
    text = "one two three four five six"
    data, lengths = jaxbpe.to_bytes_batch([text])
    tokens, counts = jaxbpe.encode(gpt2, data, lengths, max_tokens=3)
    assert tokens.shape == (1, 3)
    assert int(counts[0]) == len(gpt2.encode(text))
    assert np.asarray(tokens)[0].tolist() == gpt2.encode(text)[:3]


def test_inside_jit_lengths_outside_the_row_are_clamped_and_flagged(gpt2):
    data, _ = jaxbpe.to_bytes_batch(["abc def", "xyz", "ok"])
    lengths = np.array([-5, 1000, 2], dtype=np.int32)
    tokens, counts, status = jax.jit(jaxbpe.encode, static_argnames="return_status")(
        gpt2, data, lengths, return_status=True
    )
    assert rows(tokens, counts) == [[], gpt2.encode("xyz\0\0\0\0"), gpt2.encode("ok")]
    clamped = jaxbpe.EncodeStatus.LENGTH_CLAMPED
    assert np.asarray(status).tolist() == [clamped, clamped, jaxbpe.EncodeStatus.OK]


@pytest.mark.parametrize("bad, index", [([-1, 3], 0), ([3, 8], 1)])
def test_outside_jit_a_length_outside_the_row_is_a_value_error(gpt2, bad, index):
    data, _ = jaxbpe.to_bytes_batch(["abc def", "xyz"])
    lengths = np.array(bad, dtype=np.int32)
    with pytest.raises(ValueError, match=rf"lengths\[{index}\] = {bad[index]} is outside \[0, 7\]"):
        jaxbpe.encode(gpt2, data, lengths)


def test_status_flags_rows_truncated_by_max_tokens(gpt2):
    texts = ["one two three four", "one two", ""]
    data, lengths = jaxbpe.to_bytes_batch(texts)
    tokens, counts, status = jaxbpe.encode(gpt2, data, lengths, max_tokens=2, return_status=True)
    assert [len(gpt2.encode(t)) for t in texts] == [4, 2, 0]
    assert np.asarray(status).tolist() == [jaxbpe.EncodeStatus.TRUNCATED, 0, 0]


def test_return_status_leaves_tokens_and_counts_unchanged(gpt2):
    data, lengths = jaxbpe.to_bytes_batch(["same result", "with or without status"])
    with_status = jaxbpe.encode(gpt2, data, lengths, max_tokens=3, return_status=True)
    without = jaxbpe.encode(gpt2, data, lengths, max_tokens=3)
    assert len(without) == 2 and len(with_status) == 3
    for a, b in zip(without, with_status[:2]):
        np.testing.assert_array_equal(a, b)


def test_status_under_vmap(gpt2):
    data, _ = jaxbpe.to_bytes_batch(["abc def", "xyz"])
    data = np.stack([data, data])
    lengths = np.array([[7, 99], [-1, 3]], dtype=np.int32)
    encode = jax.vmap(lambda d, n: jaxbpe.encode(gpt2, d, n, max_tokens=1, return_status=True))
    _, counts, status = encode(data, lengths)
    S = jaxbpe.EncodeStatus
    assert [len(gpt2.encode(t)) for t in ["abc def", "xyz\0\0\0\0", "", "xyz"]] == [2, 6, 0, 2]
    assert np.asarray(counts).tolist() == [[2, 6], [0, 2]]
    both = S.LENGTH_CLAMPED | S.TRUNCATED
    assert np.asarray(status).tolist() == [[S.TRUNCATED, both], [S.LENGTH_CLAMPED, S.TRUNCATED]]


def test_invalid_utf8_bytes_round_trip(gpt2):
    rng = np.random.default_rng(7)
    samples = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in (1, 2, 3, 17, 300, 4000)]
    samples += [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ok\xe2\x82", b"\xe2\x82ok"]
    data, lengths = jaxbpe.to_bytes_batch(samples)
    tokens, counts = jax.jit(jaxbpe.encode)(gpt2, data, lengths)
    for sample, ids in zip(samples, rows(tokens, counts)):
        assert gpt2.decode_bytes(ids) == sample
        assert ids == gpt2.encode_to_numpy(sample).tolist()


def test_encode_on_an_empty_batch(gpt2):
    tokens, counts = jaxbpe.encode(gpt2, np.zeros((0, 8), np.uint8), np.zeros((0,), np.int32))
    assert tokens.shape == (0, 8) and counts.shape == (0,)


@pytest.mark.parametrize(
    "data, lengths, message",
    [
        (np.zeros((2, 4), np.int32), np.zeros(2, np.int32), "data must be uint8"),
        (np.zeros(4, np.uint8), np.zeros(1, np.int32), "data must be uint8"),
        (np.zeros((2, 4), np.uint8), np.zeros(2, np.int64), "lengths must be int32"),
        (np.zeros((2, 4), np.uint8), np.zeros(3, np.int32), r"lengths must be int32\[2\], got int32\[3\]"),
        ([[104, 105]], np.zeros(1, np.int32), r"data must be uint8\[batch, length\], got list"),
        (np.zeros((1, 2), np.uint8), [2], r"lengths must be int32\[1\], got list"),
    ],
)
def test_wrong_dtype_or_rank_is_a_type_error(gpt2, data, lengths, message):
    with pytest.raises(TypeError, match=message):
        jaxbpe.encode(gpt2, data, lengths)


def test_to_bytes_batch_rejects_a_text_longer_than_row_len():
    with pytest.raises(ValueError, match="text 1 has 5 bytes, more than row_len=4"):
        jaxbpe.to_bytes_batch(["abc", "abcde"], row_len=4)


@pytest.mark.parametrize("max_tokens", [-1, 2.5, "8"])
def test_max_tokens_must_be_a_non_negative_int(gpt2, max_tokens):
    with pytest.raises(ValueError, match=f"max_tokens must be a non-negative int, got {max_tokens!r}"):
        jaxbpe.encode(gpt2, *jaxbpe.to_bytes_batch(["x"]), max_tokens=max_tokens)


@pytest.mark.parametrize("pad_id", [2**31, -(2**31) - 1])
def test_pad_id_must_fit_in_int32(gpt2, pad_id):
    with pytest.raises(ValueError, match=f"pad_id must fit in int32, got {pad_id}"):
        jaxbpe.encode(gpt2, *jaxbpe.to_bytes_batch(["x"]), pad_id=pad_id)


def test_rows_of_2_gib_or_more_are_refused(gpt2):
    data = jax.ShapeDtypeStruct((1, 2**31), jnp.uint8)
    lengths = jax.ShapeDtypeStruct((1,), jnp.int32)
    with pytest.raises(ValueError, match="rows of 2147483648 bytes exceed the int32 lengths"):
        jax.eval_shape(lambda d, n: jaxbpe.encode(gpt2, d, n, max_tokens=1), data, lengths)
