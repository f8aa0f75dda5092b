"""jaxbpe's NFC (the normalizer of Qwen's and other tokenizer.json files) is Hugging Face
`tokenizers`' own: the tables were generated from it (tools/gen_nfc_tables.py), and
this checks the compiled normaliser against it on every code point and on random
sequences of the code points normalisation acts on."""

from __future__ import annotations

import random
import unicodedata

import pytest

from gen_nfc_tables import normalize_each, probed_codepoints
from jaxbpe import _native

pytest.importorskip("tokenizers")


def ours(texts: list[str]) -> list[str]:
    return [_native.nfc(t.encode()).decode() for t in texts]


def assert_same_as_hugging_face(texts: list[str]) -> None:
    theirs = normalize_each("NFC", texts)
    mismatches = [(t, a, b) for t, a, b in zip(texts, ours(texts), theirs) if a != b]
    assert not mismatches, [tuple(map(ascii, m)) for m in mismatches[:10]]


@pytest.mark.parametrize(
    "around",
    [
        "{}",
        "a{}",  # after a starter that composes with many marks
        "{}\u0301",  # before a mark (class 230) that composes with many starters
        "{}\u0334\u0301",  # before marks of classes 1 and 230
        "\u0316{}",  # after a mark of class 220
        "\u1100{}",  # after a Hangul leading consonant
        "\uac00{}",  # after a Hangul LV syllable
    ],
)
def test_every_code_point_normalises_as_hugging_face(around):
    assert_same_as_hugging_face([around.format(chr(c)) for c in probed_codepoints()])


def test_random_sequences_of_marks_composites_and_jamo_normalise_as_hugging_face():
    acted_on = [
        c
        for c in probed_codepoints()
        if unicodedata.combining(chr(c)) or unicodedata.decomposition(chr(c))[:1] not in ("", "<")
    ]
    pool = acted_on + list(range(0x1100, 0x1200)) + [0xAC00, 0xAC01, 0xB098] + list(range(0x41, 0x7B))
    rng = random.Random(0)
    assert_same_as_hugging_face(
        ["".join(chr(rng.choice(pool)) for _ in range(rng.randint(1, 8))) for _ in range(100_000)]
    )


def test_marks_newer_than_hugging_faces_unicode_are_left_where_it_leaves_them():
    # Python's NFC reorders or composes these (its Unicode is newer); Hugging Face's does not.
    texts = ["a\U00016ff1\u0301", "x\u1acd\u0316", "\U00011935\U00011930"]
    assert ours(texts) == texts
    assert ours(texts) == normalize_each("NFC", texts)


def test_long_text_and_invalid_bytes():
    text = "Tie\u0302\u0301ng Vie\u0323\u0302t, cafe\u0301, \u1100\u1161\u11a8 " * 10_000
    assert ours([text]) == normalize_each("NFC", [text])
    # Invalid bytes stay, and marks after one are not composed across it.
    assert _native.nfc(b"e\xff\xcc\x81e\xcc\x81\x80") == b"e\xff\xcc\x81\xc3\xa9\x80"
