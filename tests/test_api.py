"""The host API behaves like tiktoken's `Encoding`."""

from __future__ import annotations

import threading

import jax
import numpy as np
import pytest

import jaxbpe
from conftest import reference
from jaxbpe.patterns import PATTERNS


def test_encoding_metadata_matches_tiktoken(enc, ref):
    assert enc.name == ref.name
    assert enc.n_vocab == ref.n_vocab
    assert enc.max_token_value == ref.max_token_value
    assert enc.eot_token == ref.eot_token
    assert enc.special_tokens_set == ref.special_tokens_set


def test_disallowed_special_token_raises_like_tiktoken(enc, ref):
    text = "before <|endoftext|> after"
    with pytest.raises(ValueError, match="disallowed special token '<\\|endoftext\\|>'"):
        enc.encode(text)
    with pytest.raises(ValueError):
        ref.encode(text)
    assert enc.encode(text, disallowed_special=()) == ref.encode(text, disallowed_special=())
    assert enc.encode(text, allowed_special={"<|endoftext|>"}) == ref.encode(text, allowed_special={"<|endoftext|>"})
    with pytest.raises(ValueError, match="disallowed special token"):
        enc.encode_batch(["fine", text])


def test_disallowed_special_token_in_raw_bytes_raises(enc):
    """Raw bytes are searched as bytes: the token is found after invalid UTF-8 bytes as it
    is in the text they decode to, and bytes that only resemble it pass."""
    for data in (b"\xff<|endoftext|>", b"a\xe2\x82<|endoftext|>b", "é<|endoftext|>".encode()):
        with pytest.raises(ValueError, match="disallowed special token '<\\|endoftext\\|>'"):
            enc.encode_to_numpy(data)
    for data in (b"<|endoftext\xff|>", b"<|endoftex"):
        assert enc.encode_to_numpy(data).tolist() == enc.encode_to_numpy(data, disallowed_special=()).tolist()


def test_disallowed_non_ascii_special_token_in_raw_bytes_raises():
    ranks = jaxbpe.parse_tiktoken_bpe(jaxbpe.rank_file_bytes(jaxbpe.known_encoding("r50k_base").ranks))
    enc = jaxbpe.Encoding("fin", pat_str=PATTERNS["r50k"], mergeable_ranks=ranks, special_tokens={"«fin»": 50257})
    with pytest.raises(ValueError, match="disallowed special token '«fin»'"):
        enc.encode_to_numpy(b"\xc3x \xc2\xabfin\xc2\xbb")
    assert enc.encode_to_numpy(b"\xabfin\xbb", disallowed_special=()).size > 0
    enc.encode_to_numpy(b"\xabfin\xbb")  # the token's bytes without their lead bytes


def test_unknown_allowed_special_token_is_ignored_like_tiktoken(enc, ref):
    text = "x <|not a token|> <|endoftext|>"
    allowed = {"<|not a token|>", "<|endoftext|>"}
    assert enc.encode(text, allowed_special=allowed) == ref.encode(text, allowed_special=allowed)
    assert enc.encode_to_numpy(text, allowed_special=allowed).tolist() == ref.encode(text, allowed_special=allowed)


def test_decode_matches_tiktoken(enc, ref):
    text = "Grüße, 世界! <|endoftext|> 🙂\r\n\tend"
    ids = ref.encode(text, allowed_special="all")
    assert enc.decode(ids) == ref.decode(ids) == text
    assert enc.decode_bytes(ids) == ref.decode_bytes(ids)
    assert [enc.decode_single_token_bytes(i) for i in ids] == [ref.decode_single_token_bytes(i) for i in ids]


def test_decode_of_partial_character_replaces_like_tiktoken(enc, ref):
    ids = ref.encode("🙂")
    assert enc.decode(ids[:1]) == ref.decode(ids[:1])


def test_decoding_an_id_that_is_no_token_raises_key_error_like_tiktoken(enc, ref):
    bad = 10**9
    with pytest.raises(KeyError, match=f"'Invalid token for decoding: {bad}'"):
        enc.decode([1, bad])
    with pytest.raises(KeyError, match=f"^'{bad}'$"):
        enc.decode_single_token_bytes(bad)
    with pytest.raises(KeyError, match=f"^'{bad}'$"):
        ref.decode_single_token_bytes(bad)


@pytest.mark.parametrize("bad", [-1, 2**32, 2**70])
def test_decoding_an_id_that_is_no_uint32_raises_overflow_error_like_tiktoken(enc, ref, bad):
    with pytest.raises(OverflowError):
        ref.decode([1, bad])
    for decode in (enc.decode, lambda ids: enc.decode_single_token_bytes(ids[1])):
        message = f"out of range integral type conversion attempted: token id {min(bad, 2**32)}"
        with pytest.raises(OverflowError, match=message):
            decode([1, bad])


def test_lone_surrogates_are_replaced_like_tiktoken(enc, ref):
    text = "a\ud800b"
    assert enc.encode(text) == ref.encode(text)


def test_encode_returns_lists_of_python_ints_like_tiktoken(enc):
    # numpy integers would compare equal to tiktoken's ids but fail json.dumps and such.
    text = "ids above the vocabulary's: <|endoftext|>"
    for ids in [enc.encode(text, allowed_special="all"), enc.encode_ordinary(text),
                *enc.encode_batch([text, ""], allowed_special="all")]:
        assert type(ids) is list
        assert all(type(i) is int for i in ids)
    assert enc.encode(text, allowed_special="all")[-1] == enc.eot_token > max(enc._mergeable_ranks.values())


def test_encode_batch_equals_encode_per_item(enc, ref):
    texts = [f"document {i}: " + "word " * i for i in range(200)] + ["", " ", "\n"]
    assert enc.encode_batch(texts, num_threads=4) == [enc.encode(t) for t in texts] == ref.encode_batch(texts)


def test_one_encoding_is_safe_to_share_between_threads(enc, ref):
    texts = [f"thread text {i} " * (i % 50 + 1) for i in range(64)]
    expected = ref.encode_batch(texts)
    results = [None] * 8

    def work(slot):
        results[slot] = [enc.encode(t) for t in texts]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


def test_a_thread_alternating_between_encodings_gets_each_ones_ids():
    # Each thread keeps a cache of recent pieces' ids between calls, the host API's and
    # the CPU custom call's alike; it must never answer one vocabulary's piece with
    # another's ids.
    encodings = [(jaxbpe.get_encoding(n), reference(n)) for n in ("gpt2", "cl100k_base", "o200k_base")]
    jitted = jax.jit(jaxbpe.encode)
    for text in ["hello world, hello again", " the same words", "hello world, hello again"]:
        for enc, ref in encodings:
            assert enc.encode(text) == ref.encode(text)
            tokens, counts = jitted(enc, *jaxbpe.to_bytes_batch([text]))
            assert np.asarray(tokens)[0, : int(counts[0])].tolist() == ref.encode(text)


def test_unknown_encoding_name_is_an_error():
    with pytest.raises(ValueError, match="Unknown encoding 'gpt5'; known: .*'cl100k_base'"):
        jaxbpe.get_encoding("gpt5")
    with pytest.raises(ValueError, match="Expected a string in get_encoding, got <class 'int'>"):
        jaxbpe.get_encoding(5)


def test_get_encoding_returns_one_object_per_name():
    assert jaxbpe.get_encoding("gpt2") is jaxbpe.get_encoding("gpt2")


def test_decoding_non_integer_ids_is_a_type_error(enc):
    with pytest.raises(TypeError, match="token ids must be integers, got float64"):
        enc.decode([1.5, 2.0])


def test_text_beyond_2_gib_is_refused_not_overflowed(enc):
    huge = bytes(2**31)  # zero pages, never touched: the size is refused first
    with pytest.raises(ValueError, match="the text has 2147483648 bytes; jaxbpe encodes at most 2\\^31-1"):
        enc.encode_to_numpy(huge)
