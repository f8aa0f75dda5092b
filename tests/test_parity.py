"""The contract: jaxbpe's ids are exactly tiktoken's, through every entry point, on real
text and on generated adversarial text, for each pre-tokenizer family."""

from __future__ import annotations

import base64
import random

import jax
import numpy as np
import pytest
import tiktoken

import corpus
import jaxbpe
from adversarial import codepoints_by_category, random_mixture, random_unicode, runs
from conftest import PARITY_ENCODINGS, reference
from jaxbpe.patterns import PATTERNS

# At least 8 MiB of real text per encoding, split by kind.
REAL_TEXT = {"english": 2 << 20, "multilingual": 4 << 20, "code": 2 << 20}
ROW_BYTES = 64 << 10


@pytest.fixture(scope="module")
def real_documents() -> list[str]:
    return [doc for kind, size in REAL_TEXT.items() for doc in corpus.documents(kind, size)]


@pytest.fixture(scope="module")
def adversarial_texts() -> list[str]:
    rng = random.Random(1234)
    groups = codepoints_by_category()
    texts = runs()
    texts += [random_unicode(rng, groups, rng.randrange(1, 200)) for _ in range(1500)]
    texts += [random_mixture(rng, rng.randrange(1, 300)) for _ in range(1500)]
    # Every general category on its own, in runs, and next to letters and spaces.
    for _, cps in sorted(groups.items()):
        sample = "".join(chr(c) for c in rng.sample(cps, min(len(cps), 64)))
        texts += [sample, f" {sample} ", f"a{sample}b", f"'s{sample}'S", sample + "\n\n"]
    return texts


@pytest.fixture(scope="module")
def long_pieces(real_documents) -> list[str]:
    """Pieces far longer than the 64 bytes merged in registers: runs of one character,
    of two, of digits, of whitespace kinds, base64, periodic runs and runs that change
    once (along a run, the longest-token search reuses the last search's answer where
    the bytes it read repeat), and real words with the spaces and punctuation between
    them removed (so each is one piece of real letter sequences)."""
    rng = random.Random(99)
    texts = []
    for n in [65, 129, 1000, 4000]:
        for alphabet in ["a", " ", "ab", "0123456789", " \t\n", "\r\n ", "-=*_", "é", "中文"]:
            texts.append("".join(rng.choice(alphabet) for _ in range(n)))
        texts.append(base64.b64encode(rng.randbytes(n)).decode())
        texts += ["a" * n + "b" + "a" * n, "abc" * (n // 3), "ab" * (n // 2) + "a" * n, " " * n + "\t" + " " * n]
    for _ in range(150):
        doc = rng.choice(real_documents)
        start = rng.randrange(max(1, len(doc) - 3000))
        cut = doc[start : start + rng.randrange(200, 3000)]
        texts += ["".join(c for c in cut if c.isalpha()), "".join(c for c in cut if not c.isspace())]
    return texts


def jitted_rows(enc: jaxbpe.Encoding, texts: list[str]) -> list[list[int]]:
    data, lengths = jaxbpe.to_bytes_batch(texts)
    tokens, counts = jax.jit(jaxbpe.encode)(enc, data, lengths)
    tokens, counts = np.asarray(tokens), np.asarray(counts)
    return [tokens[i, : counts[i]].tolist() for i in range(len(texts))]


def utf8_rows(docs: list[str], row_bytes: int) -> list[str]:
    """The documents' text cut into rows of about row_bytes, at character boundaries."""
    data = "".join(docs).encode()
    rows, start = [], 0
    while start < len(data):
        end = min(start + row_bytes, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        rows.append(data[start:end].decode())
        start = end
    return rows


def test_real_text_encode_matches_tiktoken(enc, ref, real_documents):
    for doc in real_documents:
        assert enc.encode_ordinary(doc) == ref.encode_ordinary(doc)


def test_real_text_encode_batch_matches_tiktoken(enc, ref, real_documents):
    assert enc.encode_ordinary_batch(real_documents, num_threads=4) == ref.encode_ordinary_batch(real_documents)


def test_real_text_jitted_encode_matches_tiktoken(enc, ref, real_documents):
    rows = utf8_rows(real_documents, ROW_BYTES)
    assert sum(len(r.encode()) for r in rows) >= 8 << 20
    assert jitted_rows(enc, rows) == ref.encode_ordinary_batch(rows)


def test_adversarial_text_matches_tiktoken(enc, ref, adversarial_texts):
    for text in adversarial_texts:
        assert enc.encode_ordinary(text) == ref.encode_ordinary(text), repr(text)


def test_long_pieces_match_tiktoken(enc, ref, long_pieces):
    for text in long_pieces:
        assert enc.encode_ordinary(text) == ref.encode_ordinary(text), repr(text[:80])
    assert jitted_rows(enc, long_pieces) == ref.encode_ordinary_batch(long_pieces)


def test_a_document_with_more_distinct_pieces_than_the_piece_cache_holds_matches_tiktoken():
    # A thread's piece cache grows as it fills and starts afresh when full (at 262,144
    # pieces of 8 to 256 bytes, host.h). 300,000 distinct words take one thread's cache
    # through every size and past its largest, the second call from the cache as the
    # first left it.
    enc, ref = jaxbpe.get_encoding("cl100k_base"), reference("cl100k_base")
    rng = random.Random(16)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = dict.fromkeys("".join(rng.choices(letters, k=rng.randrange(8, 14))) for _ in range(300_000))
    text = " " + " ".join(words)  # in the order drawn: a set's would change with the hash seed
    expected = ref.encode_ordinary(text)
    for _ in range(2):
        assert enc.encode_ordinary_batch([text], num_threads=1) == [expected]


def test_adversarial_text_batch_and_jit_match_tiktoken(enc, ref, adversarial_texts):
    expected = ref.encode_ordinary_batch(adversarial_texts)
    assert enc.encode_ordinary_batch(adversarial_texts, num_threads=3) == expected
    assert jitted_rows(enc, adversarial_texts) == expected


def test_jitted_encode_under_vmap_matches_tiktoken(enc, ref, adversarial_texts):
    texts = adversarial_texts[:240]
    data, lengths = jaxbpe.to_bytes_batch(texts)
    # vmap over groups of 8 rows: each call sees a [8, L] batch.
    tokens, counts = jax.jit(jax.vmap(jaxbpe.encode, in_axes=(None, 0, 0)))(
        enc, data.reshape(30, 8, -1), lengths.reshape(30, 8)
    )
    tokens, counts = np.asarray(tokens).reshape(240, -1), np.asarray(counts).reshape(240)
    got = [tokens[i, : counts[i]].tolist() for i in range(240)]
    assert got == ref.encode_ordinary_batch(texts)


def test_special_tokens_match_tiktoken(enc, ref):
    specials = sorted(ref.special_tokens_set)
    text = f"hi{specials[0]}there {specials[-1]}\n{specials[0]}{specials[0]}  x{specials[-1]}"
    assert enc.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")
    one = {specials[0]}
    assert enc.encode(text, allowed_special=one, disallowed_special=()) == ref.encode(
        text, allowed_special=one, disallowed_special=()
    )
    tokens, counts = jaxbpe.encode(enc, *jaxbpe.to_bytes_batch([text]), allowed_special="all")
    assert np.asarray(tokens)[0, : int(counts[0])].tolist() == ref.encode(text, allowed_special="all")


# tiktoken's other encodings, each with the pattern of one above and its own ranks or
# special tokens: r50k_base, p50k_base, p50k_edit, o200k_harmony.
OTHER_ENCODINGS = [name for name in tiktoken.list_encoding_names() if name not in PARITY_ENCODINGS]


@pytest.mark.parametrize("other", OTHER_ENCODINGS)
def test_every_tiktoken_encoding_matches_tiktoken(other, real_documents, adversarial_texts):
    enc, ref = jaxbpe.get_encoding(other), reference(other)
    texts = real_documents + adversarial_texts
    assert enc.encode_ordinary_batch(texts) == ref.encode_ordinary_batch(texts)
    specials = sorted(ref.special_tokens_set)
    text = "".join(f"{t} x{t}\n " for t in specials[:40] + specials[-40:])
    assert enc.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")
    assert jitted_rows(enc, [text[:3000]]) == [ref.encode_ordinary(text[:3000])]


def test_vocabulary_whose_merges_leave_rank_order_matches_tiktoken():
    """tiktoken's vocabularies build every token with merges of rising rank, which the
    fast long-piece merge relies on. Here BPE builds "bcb" (257) from "b" and "cb" (258),
    a merge below the rank just merged: long pieces must take the general merge (the
    fast one gets this text wrong)."""
    ranks = {bytes([b]): b for b in range(256)}
    ranks |= {b"ba": 256, b"bcb": 257, b"cb": 258, b"cbb": 259, b"bcc": 260, b"cc": 261}
    enc = jaxbpe.Encoding("out_of_order", pat_str=PATTERNS["r50k"], mergeable_ranks=ranks, special_tokens={})
    ref = enc.to_tiktoken()
    rng = random.Random(5)
    texts = ["bcacaaaacabcabaccaacbbacbcbbcacbbaacaaccbccbcabcbbbaababaaaabbabaabaaaccbcbbccbc"]
    texts += ["".join(rng.choice("abc") for _ in range(n)) for n in [3, 64, 65, 300, 2000] for _ in range(20)]
    for text in texts:
        assert enc.encode_ordinary(text) == ref.encode_ordinary(text), text
