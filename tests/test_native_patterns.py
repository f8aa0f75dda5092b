"""The native pre-tokenizers split text exactly where their regex's matches end.

The parity suites see a wrong piece boundary only where it changes the ids; here every
boundary is compared with the `regex` package's matches, on strings dense in what the
scanners decide specially: ASCII runs that the word-at-a-time path decides (and the
non-ASCII letters, marks and digits that end or extend them), the letter prefix,
contractions, whitespace before a word or a newline, and digit groups."""

from __future__ import annotations

import random

import pytest
import regex

import corpus
import jaxbpe
from jaxbpe.patterns import PATTERNS
from jaxbpe.testing import piece_bounds

# starcoder2 splits digits off before its regex (tests/test_models.py checks it whole).
SINGLE_REGEX_PATTERNS = [name for name in PATTERNS if name != "starcoder2"]

ALPHABET = list("abcxyzABCXYZsStTdDmMlLvVeErR'   \t\n\r.,;:!?/()-_$#0123456789") + [
    "\r\n", "é", "É", "ſ", "\u212a", "\u0301", "中", "文", "٣", "\u00a0", "\u2028", "ß", "ǅ",
    "ʰ", "\x85", "—", "’", "Ⅻ", "\u3000",
]  # fmt: skip


def regex_bounds(pattern: str, text: str) -> list[int]:
    return [0] + [len(text[: m.end()].encode()) for m in regex.finditer(pattern, text)]


@pytest.fixture(scope="module")
def r50k_ranks() -> dict[bytes, int]:
    return jaxbpe.parse_tiktoken_bpe(jaxbpe.rank_file_bytes(jaxbpe.known_encoding("r50k_base").ranks))


@pytest.mark.parametrize("name", SINGLE_REGEX_PATTERNS)
def test_native_pieces_end_where_the_regex_matches_end(name, r50k_ranks):
    pattern = PATTERNS[name]
    enc = jaxbpe.Encoding(f"test-{name}", pat_str=pattern, mergeable_ranks=r50k_ranks, special_tokens={})
    rng = random.Random(name)
    for _ in range(5000):
        text = "".join(rng.choices(ALPHABET, k=rng.randrange(1, 48)))
        assert piece_bounds(enc, text) == regex_bounds(pattern, text), repr(text)


@pytest.fixture(scope="module")
def real_texts() -> dict[str, str]:
    return {kind: corpus.prefix(kind, 1 << 15) for kind in corpus.KINDS}


@pytest.mark.parametrize("name", SINGLE_REGEX_PATTERNS)
def test_native_pieces_of_real_text_end_where_the_regex_matches_end(name, r50k_ranks, real_texts):
    pattern = PATTERNS[name]
    enc = jaxbpe.Encoding(f"test-{name}", pat_str=pattern, mergeable_ranks=r50k_ranks, special_tokens={})
    for kind, text in real_texts.items():
        assert piece_bounds(enc, text) == regex_bounds(pattern, text), kind
