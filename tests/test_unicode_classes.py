"""The pre-tokenizers' code point classes agree with tiktoken's regex engine on every
code point: the table was generated from it, and this checks the compiled table."""

import numpy as np

from jaxbpe import _native
from gen_unicode_classes import probe_classes


def test_class_table_matches_tiktoken_on_every_codepoint():
    ours = np.asarray(_native.codepoint_classes())
    theirs = probe_classes()
    mismatches = np.flatnonzero(ours != theirs)
    assert mismatches.size == 0, [f"U+{cp:04X}: {ours[cp]} != {theirs[cp]}" for cp in mismatches[:20]]
