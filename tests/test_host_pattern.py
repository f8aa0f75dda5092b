"""Any pat_str works: patterns without a native scanner are split on the host with the
`regex` package and their pieces merged natively, with tiktoken's ids; jaxbpe.encode
refuses them inside jit with an error that names the pattern."""

from __future__ import annotations

import random

import jax
import pytest

import corpus
import jaxbpe
from adversarial import codepoints_by_category, random_mixture, random_unicode, runs
from jaxbpe.patterns import PATTERNS

# A word-level pattern, a case-insensitive one with contractions, and GPT-2's slow
# spelling with the digits split singly (as some open models do).
HOST_PATTERNS = [
    r"\w+|[^\w\s]+|\s+",
    r"(?i:'s|'t|'re)|\p{L}+|\p{N}|\s*[\r\n]+|\s+(?!\S)|\s+|[^\s\p{L}\p{N}]+",
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rng = random.Random(7)
    groups = codepoints_by_category()
    return (
        runs()
        + [random_unicode(rng, groups, rng.randrange(1, 100)) for _ in range(300)]
        + [random_mixture(rng, rng.randrange(1, 200)) for _ in range(300)]
        + list(corpus.documents("multilingual", 1 << 18))
    )


@pytest.mark.parametrize("pat_str", HOST_PATTERNS)
def test_a_pattern_without_a_native_scanner_gives_tiktokens_ids(pat_str, texts):
    base = jaxbpe.get_encoding("cl100k_base")
    specials = {"<|endoftext|>": 100257, "<|x|>": 100300}
    enc = jaxbpe.Encoding("host", pat_str=pat_str, mergeable_ranks=base._mergeable_ranks, special_tokens=specials)
    ref = enc.to_tiktoken()
    assert enc.pattern is None
    assert enc.encode_ordinary_batch(texts) == ref.encode_ordinary_batch(texts)
    text = "a<|x|> b <|endoftext|>\n<|x|>"
    assert enc.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")
    one = dict(allowed_special={"<|x|>"}, disallowed_special=())
    assert enc.encode_batch([text], **one) == ref.encode_batch([text], **one)
    assert enc.encode_to_numpy(text, disallowed_special=()).tolist() == ref.encode(text, disallowed_special=())
    tokens, completions = enc.encode_with_unstable("hello fan")
    ref_tokens, ref_completions = ref.encode_with_unstable("hello fan")
    assert tokens == ref_tokens and sorted(map(tuple, completions)) == sorted(map(tuple, ref_completions))
    assert enc._encode_bytes(b"abc \xe4\xb8") == ref._encode_bytes(b"abc \xe4\xb8")


def test_dollar_is_the_end_of_the_text_as_in_tiktoken():
    # Python's `regex` also matches `$` before a final newline; tiktoken's engine does not.
    base = jaxbpe.get_encoding("gpt2")
    enc = jaxbpe.Encoding("dollar", pat_str=r"ab$|a|[$]|\n", mergeable_ranks=base._mergeable_ranks, special_tokens={})
    ref = enc.to_tiktoken()
    for text in ["ab\n", "ab", "a$b\n", "ab\nab"]:
        assert enc.encode(text) == ref.encode(text), text


def test_text_no_alternative_matches_is_dropped_as_in_tiktoken():
    base = jaxbpe.get_encoding("gpt2")
    enc = jaxbpe.Encoding("digits", pat_str=r"\d+", mergeable_ranks=base._mergeable_ranks, special_tokens={})
    assert enc.encode("ab 12 cd 345") == enc.to_tiktoken().encode("ab 12 cd 345") == [1065, 27712]


def test_the_patterns_of_tiktokens_encodings_run_natively():
    for family, regex in PATTERNS.items():
        assert jaxbpe.patterns.native_family(regex) == family
    assert jaxbpe.get_encoding("o200k_harmony").pattern == "o200k"


def test_jit_encode_refuses_a_host_pattern_naming_it():
    base = jaxbpe.get_encoding("gpt2")
    enc = jaxbpe.Encoding("words", pat_str=r"\w+|\W", mergeable_ranks=base._mergeable_ranks, special_tokens={})
    message = r"cannot run encoding 'words' inside jit: its pattern '\\\\w\+\|\\\\W' has no native"
    with pytest.raises(ValueError, match=message):
        jax.jit(jaxbpe.encode)(enc, *jaxbpe.to_bytes_batch(["hello"]))
    with pytest.raises(ValueError, match="byte 1"):
        enc.encode_to_numpy(b"a\xffb")
