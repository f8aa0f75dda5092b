"""Generate xla_ffi/jaxbpe/nfc_tables.inc: the NFC data of Hugging Face `tokenizers`.

Encodings read from a tokenizer.json with an NFC normalizer (Qwen) must normalise as
Hugging Face does. Its Rust normaliser carries Unicode data older than Python's
`unicodedata` (Python 3.11 knows 98 combining marks that `tokenizers` 0.23 leaves in
place, and one decomposition), and each Python release moves `unicodedata` on, so
normalising with Python gives ids that differ from Hugging Face's and from one Python
to the next. These tables are what `tokenizers` itself does, found by asking it:

- a code point's canonical combining class counts only where `tokenizers` reorders
  around it (the class value is Python's: classes never change once assigned);
- a decomposition counts only where `tokenizers` decomposes (the mapping is checked
  against Python's: mappings never change either);
- a composition (two code points to one) is a decomposition that `tokenizers`' NFC
  keeps composed, i.e. no singleton, exclusion or non-starter decomposition.

Hangul syllables are left to the algorithm in nfc.cc. The generator stops if
`tokenizers` knows a mark or a decomposition this Python does not (then run it with a
newer Python). tests/test_nfc.py compares the compiled tables with `tokenizers` on
every code point. Run: python tools/gen_nfc_tables.py
"""

from __future__ import annotations

import pathlib
import unicodedata

import numpy as np

from gen_unicode_classes import BLOCK, NUM_CODEPOINTS, SURROGATES, _c_array, two_level

# The per-code-point property word of the table (nfc.cc reads it). A code point whose
# word is 0, or DECOMPOSES | KEPT, is a starter that normalisation leaves as it is and
# that nothing before it composes or reorders with: text is normalised in the spans
# between such code points, and copied where no other code point occurs.
CCC_MASK = 0xFF
DECOMPOSES = 1 << 8
COMPOSES_WITH_PREVIOUS = 1 << 9
KEPT = 1 << 10  # a composite that NFC keeps, whose decomposition starts with a word-0 code point

HANGUL_SYLLABLES = range(0xAC00, 0xD7A4)
HANGUL_VOWELS = range(0x1161, 0x1176)  # the second part of an LV syllable
HANGUL_TRAILS = range(0x11A8, 0x11C3)  # the second part of an LVT syllable
SEPARATOR = "|"  # a starter with no decomposition that composes with nothing
LOW_MARK, HIGH_MARK = "\u0334", "\u0345"  # combining classes 1 and 240, the lowest and highest


def probed_codepoints() -> list[int]:
    return [c for c in range(NUM_CODEPOINTS) if c not in SURROGATES and c != ord(SEPARATOR)]


def normalize_each(form: str, texts: list[str]) -> list[str]:
    """`tokenizers`' normalisation of each text, in one call."""
    from tokenizers import normalizers

    normalizer = normalizers.NFC() if form == "NFC" else normalizers.NFD()
    out = normalizer.normalize_str(SEPARATOR.join(texts)).split(SEPARATOR)
    assert len(out) == len(texts)
    return out


def probe() -> tuple[np.ndarray, dict[int, str], dict[tuple[int, int], int]]:
    """(property word per code point, full decompositions, compositions) as
    `tokenizers` normalises."""
    cps = probed_codepoints()
    chars = [chr(c) for c in cps]
    nfd = dict(zip(cps, normalize_each("NFD", chars)))
    nfc = dict(zip(cps, normalize_each("NFC", chars)))
    # A code point that does not decompose has a nonzero class exactly when it moves
    # before a class-1 mark or after the class-240 one.
    after_low = normalize_each("NFD", [c + LOW_MARK for c in chars])
    before_high = normalize_each("NFD", [HIGH_MARK + c for c in chars])
    marks = {
        c
        for c, a, b in zip(cps, after_low, before_high)
        if nfd[c] == chr(c) and (a != chr(c) + LOW_MARK or b != HIGH_MARK + chr(c))
    }
    props = np.zeros(NUM_CODEPOINTS, dtype=np.uint16)
    for c in marks:
        ccc = unicodedata.combining(chr(c))
        if not ccc:
            raise SystemExit(f"tokenizers reorders U+{c:04X}, a starter to Python {unicodedata.unidata_version}")
        props[c] = ccc
    decompositions: dict[int, str] = {}
    compositions: dict[tuple[int, int], int] = {}
    for c in cps:
        if nfd[c] == chr(c) or c in HANGUL_SYLLABLES:
            continue
        if nfd[c] != unicodedata.normalize("NFD", chr(c)):
            raise SystemExit(f"tokenizers decomposes U+{c:04X} unlike Python {unicodedata.unidata_version}")
        decompositions[c] = nfd[c]
        props[c] |= DECOMPOSES
        parts = unicodedata.decomposition(chr(c)).split()
        if nfc[c] == chr(c) and len(parts) == 2:  # a primary composite: NFC keeps it
            first, second = (int(p, 16) for p in parts)
            compositions[first, second] = c
            props[second] |= COMPOSES_WITH_PREVIOUS
    for c in (*HANGUL_VOWELS, *HANGUL_TRAILS):
        props[c] |= COMPOSES_WITH_PREVIOUS
    for c, decomposed in decompositions.items():
        if nfc[c] == chr(c) and props[c] == DECOMPOSES and props[ord(decomposed[0])] == 0:
            props[c] |= KEPT
    return props, decompositions, compositions


def main() -> None:
    import tokenizers

    props, decompositions, compositions = probe()
    index, blocks = two_level(props)
    keys = sorted(decompositions)
    offsets = np.cumsum([0] + [len(decompositions[c]) for c in keys])
    data = [ord(ch) for c in keys for ch in decompositions[c]]
    pairs = sorted(compositions)
    out = pathlib.Path(__file__).resolve().parents[1] / "xla_ffi/jaxbpe/nfc_tables.inc"
    out.write_text(
        f"// Generated by tools/gen_nfc_tables.py from tokenizers {tokenizers.__version__}'s NFC\n"
        f"// (class values and mappings of Unicode {unicodedata.unidata_version}, from Python). Do not edit.\n"
        f"// {len(blocks) // BLOCK // 2} distinct blocks of {BLOCK} code points; bits 0-7: canonical\n"
        "// combining class, bit 8: decomposes, bit 9: composes with the code point before it,\n"
        "// bit 10: a composite that NFC keeps (tools/gen_nfc_tables.py says more).\n"
        f"static const unsigned short kNfcBlockIndex[{len(index)}] = {{\n{_c_array(index, 24)}\n}};\n"
        f"static const unsigned short kNfcBlocks[{len(blocks) // 2}] = {{\n"
        f"{_c_array(blocks.view(np.uint16), 24)}\n}};\n"
        "// Full canonical decompositions (Hangul syllables aside), by code point:\n"
        "// kNfcDecomposed[kNfcDecompositionStart[i]..kNfcDecompositionStart[i + 1]).\n"
        f"static const unsigned kNfcDecomposable[{len(keys)}] = {{\n{_c_array(np.array(keys), 12)}\n}};\n"
        f"static const unsigned short kNfcDecompositionStart[{len(offsets)}] = {{\n"
        f"{_c_array(offsets, 16)}\n}};\n"
        f"static const unsigned kNfcDecomposed[{len(data)}] = {{\n{_c_array(np.array(data), 12)}\n}};\n"
        "// Primary composites, by (first << 21 | second).\n"
        f"static const unsigned long long kNfcCompositionKeys[{len(pairs)}] = {{\n"
        f"{_c_array(np.array([(a << 21) | b for a, b in pairs], dtype=np.uint64), 8)}\n}};\n"
        f"static const unsigned kNfcComposites[{len(pairs)}] = {{\n"
        f"{_c_array(np.array([compositions[p] for p in pairs]), 12)}\n}};\n"
    )
    print(f"wrote {out}: {len(blocks) // BLOCK // 2} blocks, {len(keys)} decompositions, {len(pairs)} compositions")


if __name__ == "__main__":
    main()
