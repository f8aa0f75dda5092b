"""Writes what fuzz_core needs for one encoding into a directory: tables.bin (the
tables blob), specials.bin (all its special tokens) and pattern.txt (the pattern id).

    python fuzz/dump_tables.py ENCODING OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import jaxbpe


def main(name: str, out_dir: str) -> None:
    enc = jaxbpe.get_encoding(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tables.bin").write_bytes(enc.host_tables.tobytes())
    (out / "specials.bin").write_bytes(enc.native_specials("all").tobytes())
    (out / "pattern.txt").write_text(str(enc.native_pattern_id()))


if __name__ == "__main__":
    main(*sys.argv[1:])
