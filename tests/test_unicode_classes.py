"""The pre-tokenizers' code point classes agree with tiktoken's regex engine on every
code point: the table was generated from it, and this checks the compiled table."""

import numpy as np

from gen_unicode_classes import NAMED_CHARACTERS, probe_classes
from jaxbpe import _native

CLASS_BITS = 0x1F  # the bits probed from tiktoken; the others mark named characters


def test_class_table_matches_tiktoken_on_every_codepoint():
    ours = np.asarray(_native.codepoint_classes())
    theirs = probe_classes()
    mismatches = np.flatnonzero((ours & CLASS_BITS) != theirs)
    assert mismatches.size == 0, [f"U+{cp:04X}: {ours[cp]} != {theirs[cp]}" for cp in mismatches[:20]]


def test_named_character_bits_mark_exactly_their_characters():
    ours = np.asarray(_native.codepoint_classes())
    for bit, chars in NAMED_CHARACTERS:
        assert sorted(np.flatnonzero(ours & (1 << bit))) == sorted(map(ord, chars))


# Bits of unicode.h's class byte, and the ASCII ranges the pre-tokenizer's word-at-a-time
# runs (pretokenize.h, ascii_class_bytes) take them to be.
LETTER, LOWERISH = 1 << 0, 1 << 4
ASCII_RANGES = {
    LETTER: set(range(ord("A"), ord("Z") + 1)) | set(range(ord("a"), ord("z") + 1)),
    LOWERISH: set(range(ord("a"), ord("z") + 1)),
}


def test_ascii_members_of_the_word_at_a_time_classes_are_the_ranges_it_assumes():
    ascii_classes = np.asarray(_native.codepoint_classes())[:128]
    for bit, members in ASCII_RANGES.items():
        assert set(np.flatnonzero(ascii_classes & bit)) == members, bit
