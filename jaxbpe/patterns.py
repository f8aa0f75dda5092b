"""The pre-tokenizer families jaxbpe implements natively, with the exact regexes of
tiktoken's encodings (tiktoken_ext/openai_public.py) that each one reproduces."""

from __future__ import annotations

from . import _native

_O200K_PARTS = (
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
)

# Family name -> regex; the family's id is the native Pattern enum's (_native.PATTERN_IDS).
PATTERNS = {
    "r50k": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
    "o200k": "|".join(_O200K_PARTS),
}
# GPT-2's original, slower spelling of the r50k pattern, as Hugging Face files carry it.
_ALIASES = {
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""": "r50k",
}


def pattern_family(pattern: str) -> str:
    """The family name for a family name or one of the supported regexes."""
    if pattern in PATTERNS:
        return pattern
    for name, regex in PATTERNS.items():
        if pattern == regex:
            return name
    if pattern in _ALIASES:
        return _ALIASES[pattern]
    raise ValueError(
        f"unsupported pre-tokenizer pattern {pattern[:120]!r}: jaxbpe implements the "
        f"families {sorted(PATTERNS)} (give a family name or its exact tiktoken regex)"
    )


if set(PATTERNS) != set(_native.PATTERN_IDS):
    raise ImportError(f"jaxbpe's patterns {sorted(PATTERNS)} and its extension's {sorted(_native.PATTERN_IDS)} differ")


def pattern_id(family: str) -> int:
    """The native id of a family name (see pattern_family)."""
    return _native.PATTERN_IDS[family]
