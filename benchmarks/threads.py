"""One long document on every CPU core: the speed of the host API and of the CPU custom
call with one thread and with all of this machine's cores, side by side in one run:

    python benchmarks/threads.py [--mib 8] [--encodings gpt2 cl100k_base o200k_base] [--out FILE.md]

For each encoding and corpus kind (english, multilingual, code; benchmarks/corpus.py):
one document of --mib MiB through `encode_to_numpy` (host API) and `jax.jit(jaxbpe.encode)`
(CPU custom call), and 4 KiB documents one at a time through `encode_ordinary` (below
the size jaxbpe splits, so the threads must cost them nothing). The thread count is
$JAXBPE_NUM_THREADS, which jaxbpe reads at every call: 1, then every core. Each figure
is the median of --repeats timed calls after a warm-up, one and all threads in turn; the ids of both thread counts
are compared with each other and with tiktoken's. The header gives the machine's own
speed-up on all cores for work that shares nothing, before and after the run, to read
the ratios against. Nothing is asserted but exactness (exit status 1 when ids differ).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import jaxbpe  # noqa: E402
from bench import cpu_model, git_commit, publish, utf8_pieces  # noqa: E402

KINDS = ("english", "multilingual", "code")
CORES = len(os.sched_getaffinity(0))


def set_threads(threads: int) -> None:
    os.environ["JAXBPE_NUM_THREADS"] = str(threads)


def one_and_many(run, repeats: int):
    """Median seconds of `run` on one thread and on every core, the two timed in turn
    (this VM's speed drifts by tens of percent from second to second: alternating keeps
    the drift out of the ratio), and the results of each."""
    results, times = [], ([], [])
    for threads in (1, CORES):
        set_threads(threads)
        results.append(run())  # warm-up, and the ids compared
    for _ in range(repeats):
        for i, threads in enumerate((1, CORES)):
            set_threads(threads)
            start = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1]), results


def machine_scaling(repeats: int = 9) -> float:
    """The speed-up this machine gives work that shares nothing: SHA-256 of 32 MiB (the GIL
    released) on one thread, then on every core at once, each the same work; median of
    paired runs. A VM whose one busy core runs slower than each of several (as this
    project's does, by 10-90%) or a core busy elsewhere shows here, not only in jaxbpe's
    ratios."""
    data = bytes(32 << 20)

    def hash_once() -> None:
        hashlib.sha256(data).digest()

    ratios = []
    for _ in range(repeats):
        start = time.perf_counter()
        hash_once()
        one = time.perf_counter() - start
        threads = [threading.Thread(target=hash_once) for _ in range(CORES)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ratios.append(CORES * one / (time.perf_counter() - start))
    return statistics.median(ratios)


def custom_call_ids(jitted, enc, data, lengths) -> np.ndarray:
    tokens, counts = jitted(enc, data, lengths)
    return np.asarray(tokens)[0, : int(counts[0])]


def as_lists(ids) -> list:
    """Ids from any path (a numpy array, or a list of lists) as plain lists."""
    return [list(map(int, x)) for x in ids] if isinstance(ids, list) else ids.tolist()


def measure(enc, ref, kind: str, size: int, repeats: int) -> tuple[list[str], bool]:
    text = corpus.text(kind, size)
    doc = text.encode()
    data, lengths = jaxbpe.to_bytes_batch([doc])
    jitted = jax.jit(jaxbpe.encode).lower(enc, data, lengths).compile()
    small = utf8_pieces(corpus.text(kind, 64 * 4096), 4096)[:64]
    paths = {
        "host API, 1 document": (len(doc), lambda: enc.encode_to_numpy(doc)),
        "CPU custom call, 1 document": (len(doc), lambda: custom_call_ids(jitted, enc, data, lengths)),
        "host API, 64 × 4 KiB one at a time": (
            sum(len(t.encode()) for t in small),
            lambda: [enc.encode_ordinary(t) for t in small],
        ),
    }
    expected = {"host API, 1 document": ref.encode_ordinary(text)}
    expected["CPU custom call, 1 document"] = expected["host API, 1 document"]
    expected["host API, 64 × 4 KiB one at a time"] = [ref.encode_ordinary(t) for t in small]
    rows, exact = [], True
    for path, (nbytes, run) in paths.items():
        one, many, (ids_one, ids_many) = one_and_many(run, repeats)

        same = as_lists(ids_one) == as_lists(ids_many) == expected[path]
        exact &= same
        rows.append(
            f"| {enc.name} | {kind} | {path} | {nbytes / one / 1e6:.1f} | {nbytes / many / 1e6:.1f} "
            f"| {one / many:.2f}× | {'yes' if same else '**NO**'} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows, exact


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=float, default=8)
    parser.add_argument("--encodings", nargs="+", default=["gpt2", "cl100k_base", "o200k_base"])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    jax.config.update("jax_platforms", "cpu")
    size = int(args.mib * (1 << 20))
    started = datetime.datetime.now(datetime.timezone.utc)
    before = machine_scaling()
    rows, exact = [], True
    for name in args.encodings:
        enc = jaxbpe.get_encoding(name)
        ref = enc.to_tiktoken()
        for kind in KINDS:
            kind_rows, same = measure(enc, ref, kind, size, args.repeats)
            rows += kind_rows
            exact &= same
    after = machine_scaling()
    lines = [
        f"## One document on {CORES} cores, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"`python benchmarks/threads.py {' '.join(sys.argv[1:])}`; {cpu_model()}, {CORES} cores; jaxbpe "
        f"{git_commit()}. MB/s (10^6 input bytes per second), median of {args.repeats} calls after a warm-up, "
        f"1 and {CORES} threads alternating; "
        "exact: the ids of both thread counts equal tiktoken's. The machine's own speed-up on "
        f"{CORES} cores (SHA-256 on each, `machine_scaling`): {before:.2f}x before the run, {after:.2f}x after.",
        "",
        f"| encoding | kind | path | 1 thread MB/s | {CORES} threads MB/s | speed-up | exact |",
        "|---|---|---|--:|--:|--:|---|",
        *rows,
    ]
    report = "\n".join(lines) + "\n"
    publish(report, args.out)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
