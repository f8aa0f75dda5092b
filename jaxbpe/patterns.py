"""Pre-tokenizer patterns: the regexes of tiktoken's encodings (tiktoken_ext/openai_public.py)
and of the open models' tokenizers that jaxbpe's native scanner reproduces (each a row of
`kPatterns` in xla_ffi/jaxbpe/pretokenize.h), and the host path for any other regex."""

from __future__ import annotations

import numpy as np

from . import _native

_CONTRACTION_SUFFIX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
_O200K_PARTS = (
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
)

_O200K_LETTERS = (
    _O200K_PARTS[0].removesuffix(_CONTRACTION_SUFFIX) + "|" + _O200K_PARTS[1].removesuffix(_CONTRACTION_SUFFIX)
)
# Llama 3's pat_str (llama_models/llama3/tokenizer.py; OLMo 2 uses it too).
_LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""  # noqa: E501

# Family name -> regex; the family's id is the native pattern table's (_native.PATTERN_IDS).
PATTERNS = {
    "r50k": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    "cl100k": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
    "o200k": "|".join(_O200K_PARTS),
    "llama3": _LLAMA3,
    # Qwen 2/2.5/3's Split regex (its tokenizer.json): Llama 3's with single digits.
    "qwen2": _LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}"),
    # Mistral Tekken's (tekken_240718.json, config.pattern): o200k's letters without the
    # contraction suffixes, single digits.
    "tekken": _O200K_LETTERS + "|" + "|".join((r"\p{N}",) + _O200K_PARTS[3:]),
    # StarCoder2's Digits(individual_digits) + ByteLevel as one regex: each digit alone,
    # then GPT-2's alternatives on the text between digits, where a digit ends the text
    # for the lookahead of `\s+(?!\S)`.
    "starcoder2": r"""\p{N}|'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+(?![^\s\p{N}])|\s+""",
}
# GPT-2's original, slower spelling of the r50k pattern (tiktoken calls the two
# equivalent), as Hugging Face files carry it.
_ALIASES = {
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""": "r50k",
}


def native_family(pat_str: str) -> str | None:
    """The native pattern (a name of PATTERNS) whose exact regex pat_str is, or None:
    such a pattern is split on the host (see HostSplitter)."""
    for name, regex in PATTERNS.items():
        if pat_str == regex:
            return name
    return _ALIASES.get(pat_str)


def resolve_pattern(pattern: str) -> str:
    """The regex for a name of PATTERNS ("r50k", "cl100k", "o200k", "llama3", ...) or a
    regex itself."""
    return PATTERNS.get(pattern, pattern)


if set(PATTERNS) != set(_native.PATTERN_IDS):
    raise ImportError(f"jaxbpe's patterns {sorted(PATTERNS)} and its extension's {sorted(_native.PATTERN_IDS)} differ")


def pattern_id(family: str) -> int:
    """The native id of a family name (see native_family)."""
    return _native.PATTERN_IDS[family]


class HostSplitter:
    """Splits text with a regex that has no native scanner, with the `regex` package on
    the host: the documented slower path (the pieces' merges stay native).

    tiktoken splits with Rust's fancy_regex, whose syntax and leftmost-first semantics
    `regex` shares. Where they differ, this follows tiktoken: `$` outside multi-line mode
    is the end of the text only (in `regex` it also matches before a final newline). What
    remains different are the Unicode versions of the two engines' property tables: code
    points assigned in recent Unicode versions (e.g. U+33422, Unicode 17) may be classed
    differently, as they may between tiktoken releases.
    """

    def __init__(self, pat_str: str):
        try:
            import regex
        except ImportError:
            raise ImportError(
                f"the pattern {pat_str[:120]!r} has no native jaxbpe pre-tokenizer; splitting "
                "text with it needs the `regex` package (pip install regex, or jaxbpe[regex])"
            ) from None
        try:
            self._regex = regex.compile(_end_of_text_anchors(pat_str))
        except regex.error as e:
            raise ValueError(f"invalid pattern {pat_str[:120]!r}: {e}") from None

    def pieces(self, text: str) -> tuple[bytes, np.ndarray, np.ndarray]:
        """text's UTF-8 bytes and the byte offsets where each match starts and ends.
        Text between matches belongs to no piece, as in tiktoken."""
        data = text.encode("utf-8")
        spans = np.array([m.span() for m in self._regex.finditer(text)], dtype=np.int64).reshape(-1, 2)
        if len(data) != len(text):  # character offsets -> byte offsets
            cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
            widths = 1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)
            byte_at = np.concatenate([[0], np.cumsum(widths)])
            spans = byte_at[spans]
        return data, np.ascontiguousarray(spans[:, 0]), np.ascontiguousarray(spans[:, 1])


def _end_of_text_anchors(pat_str: str) -> str:
    r"""pat_str with each `$` outside a character class written `\Z`: Rust's `$` (without
    the m flag) is the end of the text, Python's also the place before a final newline.
    With an m flag anywhere, `$` is the end of a line in both and nothing changes."""
    import regex

    if regex.search(r"\(\?[a-zA-Z]*m", pat_str):
        return pat_str
    out, i, in_class = [], 0, False
    while i < len(pat_str):
        c = pat_str[i]
        if c == "\\":
            out.append(pat_str[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            # A ']' right after '[' or '[^' is a literal member, not the end.
            j = i + 1 + (pat_str[i + 1 : i + 2] == "^")
            if pat_str[j : j + 1] == "]":
                out.append(pat_str[i : j + 1])
                i = j + 1
                continue
        elif c == "$":
            c = r"\Z"
        out.append(c)
        i += 1
    return "".join(out)
