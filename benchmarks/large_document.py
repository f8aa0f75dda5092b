"""Time and peak memory of tokenizing one large document (256 MiB by default) on the
CPU, through the host API and through `jax.jit(jaxbpe.encode)`:

    python benchmarks/large_document.py [--mib 256] [--encoding cl100k_base] [--out benchmarks/RESULTS.md]

Two documents: real text (english, multilingual and code from benchmarks/corpus.py,
16 MiB of each, repeated to the size) and one letter repeated (a single piece, the
long-piece merge's worst case for workspace). Each measurement runs in a fresh process,
so that one's memory does not hide another's. Peak RSS per input byte is how far the
process's resident memory rose above where it stood just before the call (Linux
clear_refs), over the document's size; the document itself was resident before.
The host and jit ids are compared (sha256 of the ids). Not a test: nothing is asserted
but that the two paths agree.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

# Its neighbours by path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from bench import cpu_model, git_commit, memory_total, peak_rss, release_free_memory, reset_peak_rss  # noqa: E402

KINDS = ("real text", "one letter")
PATHS = ("host", "jit")


def document(kind: str, size: int) -> bytes:
    if kind == "one letter":
        return b"a" * size
    part = b"".join(corpus.text(k, 16 << 20).encode() for k in ("english", "multilingual", "code"))
    return (part * (size // len(part) + 1))[:size]


def measure(kind: str, path: str, size: int, encoding: str) -> dict:
    """Runs in the child process: one call, its time, peak RSS growth and ids' digest."""
    import jax
    import numpy as np

    import jaxbpe

    enc = jaxbpe.get_encoding(encoding)
    doc = document(kind, size)
    if path == "host":
        run = lambda: enc.encode_to_numpy(doc)  # noqa: E731
        enc.encode_to_numpy(doc[:4096])
    else:
        data, lengths = jaxbpe.to_bytes_batch([doc])
        compiled = jax.jit(jaxbpe.encode).lower(enc, data, lengths).compile()

        def run():
            tokens, counts = compiled(enc, data, lengths)
            return np.asarray(tokens)[0, : int(counts[0])]

    release_free_memory()
    before = reset_peak_rss()
    start = time.perf_counter()
    ids = run()
    seconds = time.perf_counter() - start
    growth = peak_rss() - before if before is not None else None
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    return {
        "seconds": seconds,
        "tokens": int(ids.size),
        "peak_rss_growth": growth,
        "digest": hashlib.sha256(ids.tobytes()).hexdigest(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--encoding", default="cl100k_base")
    parser.add_argument("--out", help="append the report to this markdown file")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.mib << 20
    if args.child:
        print(json.dumps(measure(*args.child, size, args.encoding)))
        return

    started = time.time()
    rows, digests, ok = [], {}, True
    for kind in KINDS:
        for path in PATHS:
            print(f"{kind}, {path}...", file=sys.stderr, flush=True)
            out = subprocess.run(
                [sys.executable, __file__, "--mib", str(args.mib), "--encoding", args.encoding, "--child", kind, path],
                capture_output=True, text=True,
            )
            if out.returncode:
                sys.exit(f"{kind}, {path} failed:\n{out.stderr}")
            m = json.loads(out.stdout.strip().splitlines()[-1])
            digests.setdefault(kind, set()).add(m["digest"])
            growth = m["peak_rss_growth"]
            per_byte = f"{growth / size:.2f}" if growth is not None else "n/a"
            rows.append(
                f"| {kind} | {path} | {m['seconds']:.2f} | {size / m['seconds'] / 1e6:.1f} | {m['tokens']:,} "
                f"| {growth / 2**20 if growth is not None else float('nan'):,.0f} | {per_byte} |"
            )
    for kind, ds in digests.items():
        if len(ds) != 1:
            ok = False
            rows.append(f"| {kind} | **host and jit ids differ** | | | | | |")

    now = datetime.datetime.now(datetime.timezone.utc)
    report = "\n".join(
        [
            f"## Large document, {now:%Y-%m-%d %H:%M} UTC",
            "",
            f"- command: `{shlex.join(['python', 'benchmarks/large_document.py', *sys.argv[1:]])}` "
            f"({(time.time() - started) / 60:.1f} min)",
            f"- machine: {cpu_model()}, {len(os.sched_getaffinity(0))} cores usable, {memory_total()} RAM; "
            f"jaxbpe {git_commit()}, encoding {args.encoding}, one document of {args.mib} MiB",
            "- host: `Encoding.encode_to_numpy(bytes)`; jit: `jax.jit(jaxbpe.encode)` on one row with the "
            "default max_tokens (= row length), compiled beforehand, ids copied back to numpy",
            "- peak RSS +MiB: rise of the process's resident memory during the call (the document was "
            "already resident); per byte: that over the document's size",
            "- host and jit ids agree: " + ("yes" if ok else "**NO**"),
            "",
            "| document | path | seconds | MB/s | tokens | peak RSS +MiB | peak RSS +B per input byte |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    print(report)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + report)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
