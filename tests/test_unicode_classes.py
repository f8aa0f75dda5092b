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
