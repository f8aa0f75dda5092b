"""Instruction counts of the native host encoder (valgrind's callgrind), which unlike
wall-clock times on a shared machine are the same from run to run: how versions of the
hot code compare.

    python benchmarks/instructions.py --encodings cl100k_base,llama3 --kinds english,code

counts the instructions of a native encode call (as `encode_to_numpy` runs it, on one
thread; the mean of 8 calls, the first with the piece cache empty) on SIZE bytes of
each corpus kind (benchmarks/corpus.py) and prints a Markdown table with instructions
per byte. An encoding given as NAME:PATTERN runs
NAME's tables with another native pattern (e.g. `qwen3:llama3`: Qwen's vocabulary with
Llama 3's pattern, which isolates what single digits cost).
`--native PATH` counts another build of the extension (e.g. the previous version's
`_native*.so`) on the same tables. The child under valgrind loads only numpy and the
extension, not jax, which would take minutes there.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Run under valgrind: loads the extension from its file, builds the encoder from the
# tables' token bytes and offsets, and encodes the text REPEATS times. The extension has
# no symbols to start and stop the count at, so the count is this run's total less that
# of a run that encodes no text. The rest of the process (Python, numpy, building the
# tables) varies by about 4M instructions from run to run; repeating the encode makes
# that small beside it (8 x 1 MiB: about 0.5%).
_CHILD = r"""
import importlib.util, sys
import numpy as np
native_path, tables, pattern, path, repeats = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("_native", native_path)
native = importlib.util.module_from_spec(spec)
spec.loader.exec_module(native)
arrays = np.load(tables)
enc = native.HostEncoder(arrays["token_bytes"], arrays["token_offsets"], int(pattern))
data = open(path, "rb").read() if path else b""
for _ in range(int(repeats)):
    ids = enc.encode(data, np.zeros(0, np.uint8))
print("tokens", len(ids))
"""


REPEATS = 8


def total(native_path: str, tables: Path, pattern: int, path: str) -> tuple[int, int]:
    """(instructions, tokens) of one run of _CHILD under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", _CHILD]
            + [native_path, str(tables), str(pattern), path, str(REPEATS)],
            capture_output=True,
            text=True,
            env=os.environ | {"JAXBPE_NUM_THREADS": "1", "PYTHONHASHSEED": "0"},
        )
        if result.returncode != 0:
            raise RuntimeError(f"valgrind failed: {result.stderr[-3000:]}")
        summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.M)
        if summary is None:
            raise RuntimeError(f"no callgrind summary: {result.stderr[-2000:]}")
        return int(summary.group(1)), int(re.search(r"tokens (\d+)", result.stdout).group(1))


@functools.lru_cache(maxsize=None)
def baseline(native_path: str, tables: Path, pattern: int) -> int:
    """The instructions of a run that encodes no text."""
    return total(native_path, tables, pattern, "")[0]


def count(native_path: str, tables: Path, pattern: int, path: Path) -> tuple[int, int]:
    """(instructions per encode, tokens) of encoding the text at path."""
    with_text, tokens = total(native_path, tables, pattern, str(path))
    return (with_text - baseline(native_path, tables, pattern)) // REPEATS, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encodings", default="r50k_base,cl100k_base,o200k_base")
    parser.add_argument("--kinds", default="english,multilingual,code")
    parser.add_argument("--size", type=int, default=1 << 20)
    parser.add_argument("--native", default="", help="the extension to count (default: this checkout's)")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import numpy as np

    import corpus
    import jaxbpe

    native_path = args.native or jaxbpe._native.__file__

    print("| encoding | input | instructions | per byte | tokens |")
    print("|---|---|--:|--:|--:|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            path = Path(tmp) / f"{kind}.txt"
            path.write_bytes(corpus.text(kind, args.size).encode("utf-8"))
            for spec in args.encodings.split(","):
                name, _, pattern = spec.partition(":")
                enc = jaxbpe.get_encoding(name)
                pattern_id = jaxbpe._native.PATTERN_IDS[pattern] if pattern else enc.native_pattern_id()
                tables = Path(tmp) / f"{name}.npz"
                if not tables.exists():
                    np.savez(tables, token_bytes=enc._native.token_bytes, token_offsets=enc._native.token_offsets)
                instructions, tokens = count(native_path, tables, pattern_id, path)
                size = os.path.getsize(path)
                print(
                    f"| {spec} | {kind} {size >> 10} KiB | {instructions:,} | {instructions / size:.2f} | {tokens:,} |"
                )
                sys.stdout.flush()


if __name__ == "__main__":
    main()
