"""GPU throughput of `jaxbpe.encode` (bytes already on the device -> ids on the device)
next to tiktoken and gigatoken on the same machine's CPU cores, in one run:

    python benchmarks/gpu_bench.py [--quick] [--device gpu|cpu] [--out FILE.md]
    python benchmarks/gpu_bench.py --stages-from NCU.csv [--out FILE.md]

Inputs per encoding (gpt2/r50k, cl100k_base, o200k_base): one 8 MiB document and a
batch of 1024 rows of 8 KiB, each of english, multilingual and code text
(benchmarks/corpus.py; $JAXBPE_CORPUS_DIR on a machine without its sources), and one
8 MiB pathological document of each generator of bench.py (one letter, base64,
spaces, mixed whitespace, digits). jaxbpe is timed after a warm-up, synchronised on
the device (block_until_ready), the median of --repeats runs; its ids are compared
with tiktoken's. tiktoken runs on one thread and with encode_ordinary_batch on all
cores (a single document cut into 8 KiB pieces for that, which only flatters
tiktoken); gigatoken, where installed, with its own threads. Device memory per input
byte is the handler's formula (workspace + output at max_tokens = row length, what
jaxbpe.encode allocates by default) and the process's peak as the device reports it.

--stages-from turns the CSV of an Nsight Compute run of `--stages` (one encode of the
8 MiB English document per encoding; scripts/gpu_check.sh runs it) into the time per
stage (kernel). --device cpu runs the same harness on the CPU backend (a dry run of
the script where there is no GPU). Nothing is asserted but exactness: the exit
status is 1 when a jaxbpe output differs from tiktoken's.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import functools
import os
import platform
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import jaxbpe  # noqa: E402
from bench import PATHOLOGICAL, gigatoken_encoding, publish, utf8_pieces  # noqa: E402

MIB = 1 << 20
KINDS = ("english", "multilingual", "code")
ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")
CORES = len(os.sched_getaffinity(0))


def inputs(doc_bytes: int, rows: int, row_bytes: int) -> list[tuple[str, list[str]]]:
    out = []
    for kind in KINDS:
        text = corpus.text(kind, max(doc_bytes, rows * row_bytes))
        out.append((f"{kind} 1 × {doc_bytes // 1024} KiB", [corpus.text(kind, doc_bytes)]))
        out.append((f"{kind} {rows} × {row_bytes // 1024} KiB", utf8_pieces(text, row_bytes)[:rows]))
    for make in PATHOLOGICAL:
        out.append((f"{make.__name__} 1 × {doc_bytes // 1024} KiB", [make(doc_bytes, 1)]))
    return out


def timed(run, repeats: int) -> float:
    """Median seconds of `repeats` runs after one warm-up run."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def jaxbpe_on_device(enc, texts: list[str], device, repeats: int):
    """(seconds, ids per text, formula bytes) of jit(jaxbpe.encode) on `device`."""
    data, lengths = jaxbpe.to_bytes_batch(texts)
    data, lengths = jax.device_put(data, device), jax.device_put(lengths, device)
    encode = jax.jit(jaxbpe.encode).lower(enc, data, lengths).compile()
    out = None

    def run():
        nonlocal out
        out = encode(enc, data, lengths)
        jax.block_until_ready(out)

    seconds = timed(run, repeats)
    tokens, counts = (np.asarray(x) for x in out)
    ids = [tokens[i, : counts[i]].tolist() for i in range(len(texts))]
    rows, row_len = data.shape
    return seconds, ids, jaxbpe.device_memory_bytes(enc, rows, row_len) / (rows * row_len)


def cpu_contenders(name: str, ref):
    """(label, encode(texts) -> ids) of the CPU tokenizers, each on this machine's cores."""
    pieces = lambda texts: [p for t in texts for p in utf8_pieces(t, 8192)] if len(texts) == 1 else texts  # noqa: E731
    contenders = [
        ("tiktoken 1 thr", lambda texts: [ref.encode_ordinary(t) for t in texts]),
        (f"tiktoken {CORES} thr", lambda texts: ref.encode_ordinary_batch(pieces(texts), num_threads=CORES)),
    ]
    try:
        giga = gigatoken_encoding(name)
        contenders.append((f"gigatoken {CORES} thr", lambda texts: giga.encode_ordinary_batch(pieces(texts))))
    except ImportError:
        pass
    return contenders


def run(args) -> tuple[str, bool]:
    device = jax.devices(args.device)[0]
    doc, rows, row = (256 << 10, 64, 8 << 10) if args.quick else (8 * MIB, 1024, 8 << 10)
    lines = [
        f"## GPU benchmark, {datetime.date.today()}: {device.device_kind} ({args.device}), "
        f"{platform.processor() or platform.machine()} with {CORES} cores, jax {jax.__version__}",
        "",
        "MB/s of input bytes (10^6); jaxbpe: on the device, data already there, ids left there; "
        "ratio: jaxbpe over tiktoken on all cores. Memory: bytes per input byte, the handler's "
        "formula (workspace + output).",
        "",
    ]
    exact = True
    for name in args.encodings:
        enc = jaxbpe.get_encoding(name)
        ref = enc.to_tiktoken()
        contenders = cpu_contenders(name, ref)
        header = ["input", "jaxbpe MB/s", "Mtok/s"] + [label + " MB/s" for label, _ in contenders]
        lines += [f"### {name}", "", "| " + " | ".join(header + ["ratio", "B/byte", "exact"]) + " |"]
        lines.append("|" + "---|" + "--:|" * (len(header) + 1) + "---|")
        for label, texts in inputs(doc, rows, row):
            nbytes = sum(len(t.encode()) for t in texts)
            seconds, ids, per_byte = jaxbpe_on_device(enc, texts, device, args.repeats)
            same = ids == ref.encode_ordinary_batch(texts, num_threads=CORES)
            exact &= same
            speeds = [nbytes / timed(functools.partial(f, texts), 1) / 1e6 for _, f in contenders]
            ours = nbytes / seconds / 1e6
            cells = [label, f"{ours:,.0f}", f"{sum(map(len, ids)) / seconds / 1e6:,.1f}"]
            cells += [f"{s:,.1f}" for s in speeds] + [f"{ours / speeds[1]:,.1f}×", f"{per_byte:.1f}"]
            lines.append("| " + " | ".join(cells + ["yes" if same else "**NO**"]) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
        lines.append("")
    stats = device.memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        lines.append(f"Peak device memory of the process: {stats['peak_bytes_in_use'] / MIB:,.0f} MiB.")
    return "\n".join(lines) + "\n", exact


def stage_run(args) -> None:
    """One encode of the 8 MiB English document per encoding, for a profiler to time."""
    device = jax.devices(args.device)[0]
    text = [corpus.text("english", 8 * MIB)]
    for name in args.encodings:
        enc = jaxbpe.get_encoding(name)
        data, lengths = jaxbpe.to_bytes_batch(text)
        data, lengths = jax.device_put(data, device), jax.device_put(lengths, device)
        jax.block_until_ready(jax.jit(jaxbpe.encode)(enc, data, lengths))


def stage_table(path: Path) -> str:
    """Nsight Compute CSV (--csv --metrics gpu__time_duration.sum) -> time per stage.
    The profiled run encodes once per encoding, in ENCODINGS order; a new pass over
    the stages starts at each encoding's first kernel."""
    totals: dict[str, list[float]] = defaultdict(list)
    order: list[str] = []
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(line for line in f if not line.startswith("=="))]
    for r in rows:
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        kernel = r["Kernel Name"]
        match = re.search(r"jaxbpe::(\w+)", kernel)
        stage = match.group(1) if match else re.sub(r"<.*", "", kernel).split("::")[-1]
        if stage not in order:
            order.append(stage)
        scale = {"nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3}.get(r["Metric Unit"], 1.0)
        totals[stage].append(float(r["Metric Value"].replace(",", "")) * scale)
    lines = ["| stage (kernel) | launches | total µs |", "|---|--:|--:|"]
    for stage in order:
        lines.append(f"| {stage} | {len(totals[stage])} | {sum(totals[stage]):,.0f} |")
    return (
        "Per-stage time (Nsight Compute, gpu__time_duration.sum, kernels replayed one at a time), "
        "one 8 MiB English document per encoding, summed over the encodings:\n\n" + "\n".join(lines) + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="gpu", choices=("gpu", "cpu"))
    parser.add_argument("--encodings", nargs="+", default=list(ENCODINGS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="256 KiB documents and 64 rows (a dry run)")
    parser.add_argument("--stages", action="store_true", help="one encode per encoding, for a profiler")
    parser.add_argument("--stages-from", type=Path, help="an Nsight Compute CSV of a --stages run")
    parser.add_argument("--out", type=Path, help="append the report to this markdown file")
    args = parser.parse_args()
    if args.stages:
        stage_run(args)
        return 0
    report, exact = (stage_table(args.stages_from), True) if args.stages_from else run(args)
    publish(report, args.out)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
