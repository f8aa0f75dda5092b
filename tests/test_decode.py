"""`jaxbpe.decode` (ids → bytes inside jit) and `jaxbpe.StreamDecoder` (host text)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxbpe


def random_rows(seed, rows=6, width=200):
    """Random bytes, valid UTF-8 text and their mixtures, with random lengths."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(rows):
        n = int(rng.integers(0, width))
        if rng.random() < 0.5:
            texts.append(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        else:
            chars = rng.choice(list("ab cé€😀\n\t1.ЖΩ日本"), n // 3)
            texts.append("".join(chars).encode())
    return texts


@pytest.mark.parametrize("seed", range(3))
def test_decode_of_encode_is_the_bytes_on_device(enc, seed):
    texts = random_rows(seed)
    data, lengths = jaxbpe.to_bytes_batch(texts)

    @jax.jit
    def round_trip(enc, table, data, lengths):
        tokens, _ = jaxbpe.encode(enc, data, lengths, pad_id=-1)
        return jaxbpe.decode(table, tokens, max_bytes=data.shape[1], pad_id=-1)

    out = round_trip(enc, jaxbpe.decode_table(enc), data, lengths)
    for b, text in enumerate(texts):
        assert bytes(np.asarray(out.bytes[b, : out.lengths[b]])) == text
    np.testing.assert_array_equal(out.lengths, lengths)
    assert not np.any(out.overflow) and not np.any(out.invalid)
    assert not np.any(np.asarray(out.bytes)[np.arange(data.shape[1]) >= lengths[:, None]])


def test_decode_reports_overflow_and_keeps_the_full_length(enc):
    ids = np.array([enc.encode("hello world, hello world")], np.int32)
    out = jaxbpe.decode(enc, ids, max_bytes=7)
    assert bytes(np.asarray(out.bytes[0])) == b"hello w"
    assert int(out.lengths[0]) == 24 and bool(out.overflow[0])


def test_decode_skips_pad_ids_anywhere_and_decodes_special_tokens():
    enc = jaxbpe.get_encoding("cl100k_base")
    hi = enc.encode("hi")
    ids = np.array([[0, *hi, 0, enc.eot_token, 0]], np.int32)
    out = jaxbpe.decode(enc, ids, max_bytes=32, pad_id=0)
    assert bytes(np.asarray(out.bytes[0, : out.lengths[0]])) == b"hi<|endoftext|>"
    assert not bool(out.invalid[0])


@pytest.mark.parametrize("bad", [-5, 100256, 100261, 10**6])  # negative, gaps, past n_vocab
def test_decode_flags_ids_that_are_no_token_and_skips_them(bad):
    enc = jaxbpe.get_encoding("cl100k_base")
    row = [*enc.encode("ab"), bad, *enc.encode("cd")]
    ids = np.array([row, enc.encode("ok") + [-1] * (len(row) - 1)], np.int32)
    out = jax.jit(lambda t, i: jaxbpe.decode(t, i, max_bytes=8))(jaxbpe.decode_table(enc), ids)
    assert bytes(np.asarray(out.bytes[0, : out.lengths[0]])) == b"abcd"
    assert out.invalid.tolist() == [True, False]


def test_decode_rejects_bad_arguments():
    enc = jaxbpe.get_encoding("gpt2")
    with pytest.raises(TypeError, match=r"ids must be int32\[batch, tokens\], got float32\[3\]"):
        jaxbpe.decode(enc, np.zeros(3, np.float32), max_bytes=4)
    with pytest.raises(ValueError, match="max_bytes must be a non-negative int, got -1"):
        jaxbpe.decode(enc, np.zeros((1, 3), np.int32), max_bytes=-1)


def test_stream_decoder_holds_back_characters_split_between_tokens(enc, ref):
    text = "naïve café — 日本語のテキスト 😀👍🏽 Ωmega"
    ids = ref.encode(text)
    assert any("\ufffd" in ref.decode([i]) for i in ids)  # some tokens hold partial characters
    stream = jaxbpe.StreamDecoder(enc)
    pieces = [stream.push([i]) for i in ids]
    assert all("\ufffd" not in piece for piece in pieces)
    assert "".join(pieces) + stream.flush() == text


def test_stream_decoder_replaces_bytes_that_can_never_complete_like_bytes_decode(enc):
    data = b"ok \xff then \xe6\x97 cut, and a tail \xf0\x9f\x98"
    ids = jaxbpe.encode(enc, *jaxbpe.to_bytes_batch([data]))[0][0]
    ids = [int(i) for i in ids if i >= 0]
    stream = jaxbpe.StreamDecoder(enc)
    pieces = [stream.push([i]) for i in ids]
    assert not pieces[-1].endswith("\ufffd")  # the incomplete tail is held back...
    assert "".join(pieces) + stream.flush() == data.decode("utf-8", errors="replace")  # ...until flush
