"""Generated inputs that stress the pre-tokenizers' corner cases."""

from __future__ import annotations

import random
import sys
import unicodedata

WHITESPACE = [" ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000",
              "\u2007", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u200b", "\ufeff"]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Re", "'rE", "'VE",
                "'M", "'LL", "'lL", "'D", "'ſ", "'x", "'", "''", "’s", "'ſt"]
WORDS = ["hello", "World", "HTTPServer", "don", "I", "ABCdef", "aBC", "ǅemal", "ʰello", "ﬁne",
         "Straße", "İstanbul", "ΣΊΣΥΦΟΣ", "中文", "日本語テキスト", "한국어", "مرحبا", "שלום",
         "नमस्ते", "ไทย", "café", "e\u0301", "\u0301", "x\u20dd", "Ⅻ", "½", "²", "٣", "123456789"]
PUNCT = list("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~") + ["…", "—", "«", "»", "€", "🙂", "👍🏽", "\ufffd"]


def codepoints_by_category() -> dict[str, list[int]]:
    """Every assigned code point Python knows, grouped by general category."""
    groups: dict[str, list[int]] = {}
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp < 0xE000:
            continue
        groups.setdefault(unicodedata.category(chr(cp)), []).append(cp)
    return groups


def random_unicode(rng: random.Random, groups: dict[str, list[int]], length: int) -> str:
    """A string drawing each character from a random general category."""
    cats = sorted(groups)
    return "".join(chr(rng.choice(groups[rng.choice(cats)])) for _ in range(length))


def random_mixture(rng: random.Random, length: int) -> str:
    """Words, whitespace runs, digits, punctuation and contractions, glued at random."""
    parts = []
    while sum(map(len, parts)) < length:
        kind = rng.randrange(6)
        if kind == 0:
            parts.append(rng.choice(WORDS))
        elif kind == 1:
            parts.append("".join(rng.choice(WHITESPACE) for _ in range(rng.randrange(1, 5))))
        elif kind == 2:
            parts.append(str(rng.randrange(10 ** rng.randrange(1, 12))))
        elif kind == 3:
            parts.append("".join(rng.choice(PUNCT) for _ in range(rng.randrange(1, 4))))
        elif kind == 4:
            parts.append(rng.choice(CONTRACTIONS))
        else:
            parts.append(rng.choice(WORDS).upper() if rng.random() < 0.5 else rng.choice(WORDS).title())
    return "".join(parts)


def runs() -> list[str]:
    """Long runs of one character or pattern, and texts ending in whitespace."""
    out = []
    singles = ["a", "A", " ", "\n", "\r\n", "\t", "1", "!", "中", "\u3000", "é", "\u0301"]
    singles += ["'s", "ab", " a", "a ", "/", "\r"]
    for ch in singles:
        for n in (1, 2, 3, 4, 7, 64, 65, 1000, 5000):
            out.append(ch * n)
    for tail in WHITESPACE:
        out += [f"word{tail}", f"word{tail * 3}", f"x {tail}y", f"{tail}{tail}Word", f"!{tail}"]
    return out
