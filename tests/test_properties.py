"""Properties that hold for every input, checked on inputs hypothesis generates: ids
equal tiktoken's, any bytes round-trip, and every entry point agrees with the others."""

from __future__ import annotations

import jax
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import jaxbpe
from adversarial import CONTRACTIONS, PUNCT, WHITESPACE, WORDS

# Text built from the pieces the pre-tokenizers care about, including runs long enough
# (> 64 bytes) to take the long-piece merge.
runs = st.builds(
    lambda ch, n: ch * n, st.sampled_from(["a", "Z", " ", "\n", "1", "é", "中", "!", "\u3000"]), st.integers(1, 200)
)
numbers = st.integers(0, 10**15).map(str)
fragments = st.one_of(
    st.sampled_from(WORDS + WHITESPACE + PUNCT + CONTRACTIONS), numbers, runs, st.text(max_size=8)
)
mixtures = st.lists(fragments, max_size=40).map("".join)
specials = st.sampled_from(["<|endoftext|>", "<|endofprompt|>", "<|fim_prefix|>", "<|endoftext", "<|"])
with_specials = st.lists(st.one_of(fragments, specials), max_size=30).map("".join)

ROW_LEN, BATCH = 2048, 4  # one shape, so jit compiles once per encoding


@given(text=st.text(max_size=200))
def test_random_unicode_equals_tiktoken(enc, ref, text):
    assert enc.encode_ordinary(text) == ref.encode_ordinary(text)


@given(text=mixtures)
def test_words_whitespace_and_punctuation_equal_tiktoken(enc, ref, text):
    assert enc.encode_ordinary(text) == ref.encode_ordinary(text)


@given(text=with_specials)
def test_special_tokens_equal_tiktoken(enc, ref, text):
    assert enc.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")
    assert enc.encode(text, disallowed_special=()) == ref.encode(text, disallowed_special=())


@given(data=st.binary(max_size=300))
def test_any_bytes_round_trip(enc, data):
    ids = enc.encode_to_numpy(data)
    assert enc.decode_bytes(ids) == data


@given(texts=st.lists(st.one_of(with_specials, st.text(max_size=50)), max_size=12), threads=st.integers(1, 4))
def test_encode_batch_equals_encode_per_item(enc, texts, threads):
    batch = enc.encode_batch(texts, num_threads=threads, allowed_special="all")
    assert batch == [enc.encode(t, allowed_special="all") for t in texts]


@given(rows=st.lists(st.one_of(st.binary(max_size=ROW_LEN), mixtures.map(str.encode)), min_size=1, max_size=BATCH))
def test_jit_and_eager_agree(enc, rows):
    rows = [r[:ROW_LEN] for r in rows] + [b""] * (BATCH - len(rows))
    data, lengths = jaxbpe.to_bytes_batch(rows, row_len=ROW_LEN)
    tokens, counts = _jitted_encode(enc, data, lengths)
    tokens, counts = np.asarray(tokens), np.asarray(counts)
    for row, ids, count in zip(rows, tokens, counts):
        assert ids[:count].tolist() == enc.encode_to_numpy(row).tolist()


_jitted_encode = jax.jit(jaxbpe.encode)
