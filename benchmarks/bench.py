"""Throughput, exactness and memory of jaxbpe against tiktoken and other BPE
tokenizers, side by side in one run on the same inputs.

    python benchmarks/bench.py [--quick] [--big] [--encodings r50k_base,cl100k_base,o200k_base]
                               [--out benchmarks/RESULTS.md]

Every tokenizer encodes every input it applies to: single documents of real text
(every kind of benchmarks/corpus.py: english, multilingual, code, cjk, cyrillic,
arabic_indic, markdown, json, minified_js, polyglot_code), each both as first calls
on documents the tokenizer has not seen ("first") and as calls on the document it
has just encoded ("repeated"); a batch of 4 KiB documents; and pathological 1 MiB
inputs, repeated and new. tiktoken's single-threaded output is the reference: every
other output is compared with it id for id. The markdown report goes to stdout and,
with --out, is appended to that file (plots beside it under plots/, when matplotlib
is installed). Progress goes to stderr.

The exit status is 1 when a jaxbpe output differs from tiktoken's or a jaxbpe call
raised; other libraries' mismatches are reported but are not jaxbpe's failures.
Speed is never asserted.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import ctypes
import dataclasses
import datetime
import functools
import importlib.metadata
import os
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
import jaxbpe  # noqa: E402
from jaxbpe.patterns import PATTERNS  # noqa: E402

KIB, MIB = 1 << 10, 1 << 20
KINDS = corpus.KINDS
ALL_CORES = len(os.sched_getaffinity(0))
REFERENCE = "tiktoken (1 thr)"  # every other output is compared with this one's


@dataclass(frozen=True)
class Settings:
    single_sizes: tuple[int, ...]
    batch_count: int
    batch_doc_size: int
    pathological_size: int
    repeats: int  # timed runs per measurement, at most
    budget_s: float  # stop repeating once the timed runs took this long (at least one run)
    first_calls: int = 3  # new documents per first-call measurement (one at 8 MiB and more)


QUICK = Settings((4 * KIB, 64 * KIB), 256, 4 * KIB, 64 * KIB, repeats=3, budget_s=0.2, first_calls=2)
FULL = Settings((64 * KIB, MIB, 8 * MIB), 4096, 4 * KIB, MIB, repeats=5, budget_s=1.0)


# -- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    label: str
    group: str  # "first", "single" (repeated), "batch" or "pathological"
    kind: str  # the corpus kind or the pathological generator
    texts: list[str]

    @functools.cached_property
    def size(self) -> int:
        """UTF-8 bytes a timed run encodes: all texts, or one of the new documents of a
        first-call input (each run takes the next; they are about equally long)."""
        total = sum(len(t.encode()) for t in self.texts)
        return total // len(self.texts) if self.group == "first" else total


def size_label(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB else f"{n // KIB} KiB"


def single_documents(sizes: Sequence[int], skipped: list[str]) -> list[Input]:
    """Each kind's first `size` bytes, timed again and again: a repeated document."""
    inputs = []
    for kind in KINDS:
        for size in sizes:
            try:
                inputs.append(Input(f"{kind} {size_label(size)} repeated", "single", kind, [corpus.text(kind, size)]))
            except RuntimeError as e:  # the machine has less text of this kind
                skipped.append(f"{kind} {size_label(size)} repeated: {e}")
    return inputs


# A line of at least this many bytes that an earlier kind's new documents held is left
# out of a kind's new documents. The kinds share sources: multilingual and json hold the
# gettext catalogs that cjk, cyrillic and arabic_indic are made of, and a tokenizer that
# kept the pieces of one kind's documents found another's "new" ones cached (gigatoken,
# whose cache keeps them: 64 KiB of cjk first calls at 93 MB/s after multilingual, 19
# MB/s on the same documents with a fresh tokenizer, o200k, 2026-12-04).
SHARED_LINE_BYTES = 16


def line_key(line: str) -> int:
    """What two lines of different kinds share when they hold the same text: json quotes
    the catalogs' messages and indents them."""
    return hash(line.strip().strip('",[]{}').strip())


def new_text(kind: str, size: int, seen: set[int]) -> bytes:
    """The first `size` UTF-8 bytes of a kind's text (or all of it, when less), leaving
    out the lines of at least SHARED_LINE_BYTES bytes whose line_key is in `seen`; then
    adds those of its own lines to `seen`."""
    kept, total, own = [], 0, set()
    for doc in corpus.stream(kind):
        for line in doc.splitlines(keepends=True):
            line_bytes = len(line.encode())
            if line_bytes >= SHARED_LINE_BYTES:
                if (key := line_key(line)) in seen:
                    continue
                own.add(key)
            kept.append(line)
            total += line_bytes
        if total >= size:
            break
    seen |= own
    return "".join(kept).encode()[:size]


def first_call_documents(sizes: Sequence[int], calls: int, skipped: list[str]) -> list[Input]:
    """New documents: for each kind, consecutive slices of its text, `calls` of each size
    (one of 8 MiB and more), none overlapping another, and none holding a long line of an
    earlier kind's (see SHARED_LINE_BYTES). They are measured before the repeated
    documents, so no tokenizer has seen their text; it has seen other documents (and
    kinds) before, as a tokenizer that serves a stream of documents has."""
    inputs, seen = [], set()
    for kind in KINDS:
        counts = [1 if size >= 8 * MIB else calls for size in sizes]
        # (a few bytes more: the slices are cut back to character boundaries)
        data = new_text(kind, sum(c * s for c, s in zip(counts, sizes)) + 64, seen)
        start = 0
        for size, count in zip(sizes, counts):
            label = f"{kind} {size_label(size)} first"
            if start + count * size > len(data):
                need = start + count * size
                skipped.append(
                    f"{label}: {count} new document(s) need {need} bytes of {kind}, this machine has {len(data)}"
                    " (without the lines of earlier kinds)"
                )
                break
            docs = utf8_pieces(data[start : start + count * size].decode("utf-8", errors="ignore"), size)[:count]
            inputs.append(Input(label, "first", kind, docs))
            start += count * size
    return inputs


def utf8_pieces(text: str, size: int) -> list[str]:
    """Consecutive pieces of at most `size` UTF-8 bytes, cut at character boundaries."""
    data, pieces, start = text.encode(), [], 0
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte
            end -= 1
        pieces.append(data[start:end].decode())
        start = end
    return pieces


def batch_of_documents(count: int, size: int) -> Input:
    """`count` documents of ~`size` bytes, taking the corpus kinds in turn."""
    per_kind = -(-count // len(KINDS))
    pieces = [utf8_pieces(corpus.text(kind, per_kind * size), size)[:per_kind] for kind in KINDS]
    docs = [doc for group in zip(*pieces) for doc in group][:count]
    return Input(f"batch {count} × {size_label(size)}", "batch", "mixed", docs)


# Pathological inputs: functions of a length and a seed (for a letter or spaces, one
# text whatever the seed).
def repeated_letter(n: int, seed: int) -> str:
    return "a" * n


def random_base64(n: int, seed: int) -> str:
    return base64.b64encode(random.Random(seed).randbytes(n))[:n].decode()


def spaces(n: int, seed: int) -> str:
    return " " * n


def whitespace_mix(n: int, seed: int) -> str:
    return "".join(random.Random(seed).choices(" \t\n", k=n))


def random_digits(n: int, seed: int) -> str:
    return "".join(random.Random(seed).choices("0123456789", k=n))


PATHOLOGICAL = (repeated_letter, random_base64, spaces, whitespace_mix, random_digits)


def pathological_inputs(size: int, first_calls: int) -> list[Input]:
    """Each pathological text repeated, and, where texts differ by seed, as first calls on
    new ones: a tokenizer that caches whole pieces finds a repeated one's single long
    piece cached (gigatoken's whitespace mix: 127 MB/s repeated, 3.4 MB/s new)."""
    inputs = []
    for make in PATHOLOGICAL:
        name = f"{make.__name__} {size_label(size)}"
        texts = [make(size, seed) for seed in range(1, first_calls + 2)]
        inputs.append(Input(f"{name} repeated", "pathological", make.__name__, texts[:1]))
        if texts[1] != texts[0]:
            inputs.append(Input(f"{name} first", "first", make.__name__, texts[1:]))
    return inputs


# -- tokenizers --------------------------------------------------------------------------


def id_lists(out) -> list[list[int]]:
    return [list(ids) for ids in out]


@dataclass
class Contender:
    """One way of tokenizing. `prepare` lays the texts out as the tokenizer takes them
    (untimed); `run` is what is timed; `token_lists` turns its output into one list of
    ids per text for the exactness check."""

    name: str
    run: Callable[[Any], Any]
    prepare: Callable[[list[str]], Any] = lambda texts: texts
    token_lists: Callable[[Any], list[list[int]]] = id_lists
    on_single: bool = True
    on_batch: bool = True
    is_jaxbpe: bool = False

    def applies_to(self, item: Input) -> bool:
        return self.on_batch if item.group == "batch" else self.on_single


def one_at_a_time(encode: Callable[[str], Any]) -> Callable[[list[str]], list]:
    return lambda texts: [encode(t) for t in texts]


def single_and_batch(
    library: str,
    encode_one: Callable[[str], Any],
    encode_batch: Callable[[list[str]], Any],
    *,
    threads: str = f"{ALL_CORES} thr",
    batch_token_lists: Callable[[Any], list[list[int]]] = id_lists,
) -> list[Contender]:
    """Another library's two contenders: one text at a time on one thread (single
    documents only), and its batch API (the batch input only)."""
    return [
        Contender(f"{library} (1 thr)", one_at_a_time(encode_one), on_batch=False),
        Contender(f"{library} batch ({threads})", encode_batch, token_lists=batch_token_lists, on_single=False),
    ]


def tiktoken_contenders(name: str) -> list[Contender]:
    enc = jaxbpe.get_encoding(name).to_tiktoken()
    return [
        Contender(REFERENCE, one_at_a_time(enc.encode_ordinary)),
        Contender(
            f"tiktoken batch ({ALL_CORES} thr)",
            lambda texts: enc.encode_ordinary_batch(texts, num_threads=ALL_CORES),
            on_single=False,
        ),
    ]


def gpt2_byte_characters() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte, as Hugging Face vocabularies spell tokens."""
    printable = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    others = [b for b in range(256) if b not in printable]
    return {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(others)}


def hf_tokenizer_from_ranks(ranks: dict[bytes, int], pattern: str):
    """A Hugging Face byte-level BPE equivalent to tiktoken's: tiktoken merges the
    adjacent pair whose concatenation has the lowest rank, so every split of a token
    into two tokens becomes a merge, ordered by the token's rank; `ignore_merges`
    takes a piece that is itself a token whole, as tiktoken does."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    chars = gpt2_byte_characters()

    def spell(token: bytes) -> str:
        return "".join(chars[b] for b in token)

    merges = []
    for token, rank in ranks.items():
        splits = [(token[:i], token[i:]) for i in range(1, len(token)) if token[:i] in ranks and token[i:] in ranks]
        splits.sort(key=lambda pair: (ranks[pair[0]], ranks[pair[1]]))
        merges += [(rank, spell(left), spell(right)) for left, right in splits]
    merges.sort(key=lambda merge: merge[0])
    vocab = {spell(token): rank for token, rank in ranks.items()}
    tokenizer = Tokenizer(models.BPE(vocab, [(left, right) for _, left, right in merges], ignore_merges=True))
    # Oniguruma reads `{1,3}+` as a repeated repetition rather than a possessive one;
    # nothing follows it in the pattern, so the greedy `{1,3}` matches the same.
    split = pre_tokenizers.Split(Regex(pattern.replace("{1,3}+", "{1,3}")), behavior="isolated")
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def hf_contenders(name: str, ranks: dict[bytes, int]) -> list[Contender]:
    try:
        tokenizer = hf_tokenizer_from_ranks(ranks, PATTERNS[jaxbpe.known_encoding(name).pattern])
    except ImportError:
        return []  # tokenizers is not installed
    return single_and_batch(
        "HF tokenizers",
        lambda t: tokenizer.encode(t, add_special_tokens=False).ids,
        lambda texts: [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)],
    )


def jitted_contender(enc: jaxbpe.Encoding) -> Contender:
    jitted = jax.jit(lambda enc, data, lengths: jaxbpe.encode(enc, data, lengths))

    def prepare(texts):
        # Layout and compilation are one-time costs, kept out of the timed call; the
        # host->device copy of the bytes stays in it (on the CPU backend it is ~free).
        data, lengths = jaxbpe.to_bytes_batch(texts)
        return jitted.lower(enc, data, lengths).compile(), data, lengths

    def run(prepared):
        compiled, data, lengths = prepared
        return jax.block_until_ready(compiled(enc, data, lengths))

    def token_lists(out):
        tokens, counts = np.asarray(out[0]), np.asarray(out[1])
        return [row[:count].tolist() for row, count in zip(tokens, counts)]

    return Contender(f"jaxbpe jit ({jax.default_backend()})", run, prepare, token_lists, is_jaxbpe=True)


def jaxbpe_contenders(name: str) -> list[Contender]:
    enc = jaxbpe.get_encoding(name)
    return [
        Contender(
            "jaxbpe to_numpy (1 thr)",
            one_at_a_time(enc.encode_to_numpy),
            token_lists=lambda out: [ids.tolist() for ids in out],
            is_jaxbpe=True,
        ),
        Contender("jaxbpe (1 thr)", one_at_a_time(enc.encode_ordinary), is_jaxbpe=True),
        Contender(
            f"jaxbpe batch ({ALL_CORES} thr)",
            lambda texts: enc.encode_ordinary_batch(texts, num_threads=ALL_CORES),
            on_single=False,
            is_jaxbpe=True,
        ),
        jitted_contender(enc),
    ]


def riptoken_contenders(name: str, ranks: dict[bytes, int], notes: list[str]) -> list[Contender]:
    import riptoken

    known = jaxbpe.known_encoding(name)
    core = riptoken.CoreBPE(ranks, known.special_tokens, PATTERNS[known.pattern])
    return single_and_batch("riptoken", core.encode_ordinary, core.encode_ordinary_batch)


def bpe_openai_contenders(name: str, ranks: dict[bytes, int], notes: list[str]) -> list[Contender]:
    import importlib.resources

    import bpe_openai

    # It bundles some rank files and fetches the others through tiktoken, from the network.
    if not (importlib.resources.files("bpe_openai.data") / f"{name}.tiktoken.gz").is_file():
        notes.append(f"bpe-openai: left out of {name}, whose rank file it does not bundle")
        return []
    enc = bpe_openai.get_encoding(name)
    return single_and_batch(
        "bpe-openai", enc.encode_ordinary, lambda texts: enc.encode_ordinary_batch(texts, num_threads=ALL_CORES)
    )


def gigatoken_encoding(name: str):
    """gigatoken's tiktoken-like encoding of one of jaxbpe's known encodings (ImportError
    without gigatoken)."""
    import gigatoken

    known = jaxbpe.known_encoding(name)
    with tempfile.TemporaryDirectory() as tmp:  # gigatoken reads a rank file by path
        path = Path(tmp) / known.ranks.filename
        path.write_bytes(jaxbpe.rank_file_bytes(known.ranks))
        tokenizer = gigatoken.Tokenizer.from_tiktoken(
            path, pretokenizer=known.pattern, special_tokens=known.special_tokens
        )
    return tokenizer.as_tiktoken()


def gigatoken_contenders(name: str, ranks: dict[bytes, int], notes: list[str]) -> list[Contender]:
    enc = gigatoken_encoding(name)
    return single_and_batch(
        "gigatoken",
        # num_threads=1 is its documented way to keep one text on one thread.
        lambda t: enc.encode_ordinary_batch([t], num_threads=1)[0],
        enc.encode_ordinary_batch,
        threads="auto thr",
    )


def quicktok_contenders(name: str, ranks: dict[bytes, int], notes: list[str]) -> list[Contender]:
    import quicktok  # PyPI's quicktok-v1 (PyPI's "quicktok" is an unrelated trainable toy)

    try:
        enc = quicktok.get_encoding(name)  # it bundles its own rank files
    except RuntimeError:
        notes.append(f"quicktok: left out of {name}, which it does not bundle")
        return []

    def split_batch(out) -> list[list[int]]:
        tokens, offsets = out  # one flat uint32 array; text i is tokens[offsets[i]:offsets[i + 1]]
        return [tokens[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]

    return single_and_batch(
        "quicktok",
        enc.encode_ordinary,
        lambda texts: enc.encode_batch(texts, threads=ALL_CORES),
        batch_token_lists=split_batch,
    )


OPTIONAL_LIBRARIES = (riptoken_contenders, bpe_openai_contenders, gigatoken_contenders, quicktok_contenders)


def optional_contenders(name: str, ranks: dict[bytes, int], notes: list[str]) -> list[Contender]:
    contenders = []
    for build in OPTIONAL_LIBRARIES:
        try:
            contenders += build(name, ranks, notes)
        except ImportError:
            continue  # not installed: these libraries are optional
    return contenders


def all_contenders(name: str, notes: list[str], with_hf: bool) -> list[Contender]:
    """tiktoken first: its single-threaded output is the others' reference."""
    ranks = jaxbpe.parse_tiktoken_bpe(jaxbpe.rank_file_bytes(jaxbpe.known_encoding(name).ranks))
    return (
        tiktoken_contenders(name)
        + (hf_contenders(name, ranks) if with_hf else [])
        + jaxbpe_contenders(name)
        + optional_contenders(name, ranks, notes)
    )


# -- measuring ---------------------------------------------------------------------------


def _libc_malloc_trim() -> Callable[[], None]:
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0)


release_free_memory = _libc_malloc_trim()


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field_name}:\s+(\d+) kB", f.read(), re.M).group(1))


def reset_peak_rss() -> int | None:
    """Lowers the process's peak RSS to its current RSS (Linux clear_refs "5") and
    returns that RSS in bytes, or None where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_kib("VmRSS") * KIB
    except OSError:
        return None


def peak_rss() -> int:
    return _status_kib("VmHWM") * KIB


@dataclass
class Measurement:
    contender: str
    item: Input
    is_jaxbpe: bool
    seconds: list[float] = field(default_factory=list)
    tokens: int = 0
    exact: str = ""
    peak_rss_growth: int | None = None
    cores_busy: float = 0.0
    error: str | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def failed_exactness(self) -> bool:
        return self.error is not None or self.exact.startswith("NO")


def first_difference(got: list[list[int]], want: list[list[int]]) -> str:
    if len(got) != len(want):
        return f"{len(got)} outputs for {len(want)} texts"
    for row, (a, b) in enumerate(zip(got, want)):
        if a != b:
            at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            where = f"text {row}, " if len(want) > 1 else ""
            return f"{where}token {at} ({len(a)} vs {len(b)} ids)"
    raise ValueError("the outputs are equal")


def exactness(got: list[list[int]], reference: list[list[int]] | None) -> str:
    if reference is None:
        return "n/a (no reference)"
    return "yes" if got == reference else f"NO: {first_difference(got, reference)}"


def describe_error(e: BaseException) -> str:
    first_line = str(e).splitlines()[0][:100] if str(e) else ""
    return f"{type(e).__name__}: {first_line}".replace("|", "\\|")  # a cell of a markdown table


# Encoded (untimed) before a tokenizer's first calls, so that they do not include its
# loading: text of no corpus kind.
WARM_UP = "The warm-up text: 0123456789, éàü, 你好, привет.\n" * 64


def measure_first_calls(
    contender: Contender, item: Input, reference: list[list[int]] | None
) -> tuple[Measurement, list[list[int]] | None]:
    """One timed run per new document of a first-call input; its peak memory is not
    measured (that would take another, repeated, call)."""
    m = Measurement(contender.name, item, contender.is_jaxbpe)
    try:
        contender.run(contender.prepare([WARM_UP]))
        lists, busy = [], []
        for text in item.texts:
            prepared = contender.prepare([text])
            cpu_start, start = time.process_time(), time.perf_counter()
            out = contender.run(prepared)
            elapsed = time.perf_counter() - start
            busy.append((time.process_time() - cpu_start) / elapsed)
            m.seconds.append(elapsed)
            lists += contender.token_lists(out)
            del out, prepared
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001
        m.error = describe_error(e)
        return m, None
    m.tokens = sum(len(ids) for ids in lists) // len(item.texts)
    m.exact = exactness(lists, reference)
    m.cores_busy = statistics.median(busy)
    return m, lists


# Each tokenizer's first calls run on a thread of its own, kept for the whole run.
# jaxbpe's piece cache is per thread and per vocabulary: on one thread, the second jaxbpe
# entry point (the list after numpy) found the new documents the first had just encoded,
# and its "first" calls were repeated ones. A thread per input would start each cold,
# unlike a tokenizer serving a stream of documents.
FIRST_CALL_THREADS: dict[str, concurrent.futures.ThreadPoolExecutor] = {}


def measure(
    contender: Contender, item: Input, reference: list[list[int]] | None, settings: Settings
) -> tuple[Measurement, list[list[int]] | None]:
    """One untimed warm-up run (whose output is checked), then timed runs until
    `settings.repeats` of them or `settings.budget_s` seconds, then one untimed run
    for the peak memory: trimming the heap before a run makes the run fault its pages
    back in, which would cost a short one more than its own work. Returns the token
    lists of the warm-up too (the reference, when this is tiktoken)."""
    if item.group == "first":
        thread = FIRST_CALL_THREADS.setdefault(contender.name, concurrent.futures.ThreadPoolExecutor(1))
        return thread.submit(measure_first_calls, contender, item, reference).result()
    m = Measurement(contender.name, item, contender.is_jaxbpe)
    try:
        prepared = contender.prepare(item.texts)
        lists = contender.token_lists(contender.run(prepared))
        busy = []
        while len(m.seconds) < settings.repeats and sum(m.seconds) < settings.budget_s:
            cpu_start, start = time.process_time(), time.perf_counter()
            out = contender.run(prepared)
            elapsed = time.perf_counter() - start
            del out
            busy.append((time.process_time() - cpu_start) / elapsed)
            m.seconds.append(elapsed)
        release_free_memory()  # so that memory freed by earlier runs shows up again as growth
        rss_before = reset_peak_rss()
        out = contender.run(prepared)
        if rss_before is not None:
            m.peak_rss_growth = peak_rss() - rss_before
        del out
    # Rust libraries turn panics into pyo3's PanicException, a BaseException.
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001
        m.error = describe_error(e)
        return m, None
    m.tokens = sum(len(ids) for ids in lists)
    m.exact = exactness(lists, reference)
    m.cores_busy = statistics.median(busy)
    return m, lists


class Progress:
    """One line per step on stderr, rewritten in place on a terminal."""

    def __init__(self):
        self.started = time.perf_counter()
        self.in_place = sys.stderr.isatty()

    def show(self, text: str) -> None:
        line = f"[{time.perf_counter() - self.started:6.1f}s] {text}"
        if self.in_place:
            print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.in_place:
            print(file=sys.stderr)


def benchmark_encoding(
    name: str,
    position: str,
    inputs: list[Input],
    settings: Settings,
    progress: Progress,
    notes: list[str],
    with_hf: bool,
) -> list[Measurement]:
    progress.show(f"{position} {name}: loading the tokenizers")
    contenders = all_contenders(name, notes, with_hf)
    plan = [(item, c) for item in inputs for c in contenders if c.applies_to(item)]
    measurements, reference = [], None
    for step, (item, contender) in enumerate(plan, 1):
        progress.show(f"{position} {name} {step}/{len(plan)}: {contender.name} on {item.label}")
        if contender.name == REFERENCE:
            m, reference = measure(contender, item, None, settings)  # None when tiktoken failed here
            m.exact = "reference" if reference is not None else m.exact
        else:
            m, _ = measure(contender, item, reference, settings)
        measurements.append(m)
    return measurements


# -- reporting ---------------------------------------------------------------------------


def mb_per_s(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


def format_row(m: Measurement, baseline: Measurement | None) -> str:
    if m.error:
        return f"| {m.item.label} | {m.contender} | error | | | | {m.error} | | | |"
    size = m.item.size
    ratio = f"{baseline.median_s / m.median_s:.2f}×" if baseline and not baseline.error else "n/a"
    memory = f"{m.peak_rss_growth / MIB:.1f}" if m.peak_rss_growth is not None else "n/a"
    exact = f"**{m.exact}**" if m.exact.startswith("NO") else m.exact
    return (
        f"| {m.item.label} | {m.contender} | {mb_per_s(size, m.median_s):.1f} "
        f"| {mb_per_s(size, max(m.seconds)):.1f}..{mb_per_s(size, min(m.seconds)):.1f} "
        f"| {m.tokens / m.median_s / 1e6:.2f} | {ratio} | {exact} | {memory} | {m.cores_busy:.1f} | {len(m.seconds)} |"
    )


def results_table(measurements: list[Measurement]) -> str:
    lines = [
        "| input | tokenizer | MB/s | MB/s min..max | Mtok/s | × tiktoken | exact | peak RSS +MiB | cores busy "
        "| runs |",
        "|---|---|--:|--:|--:|--:|---|--:|--:|--:|",
    ]
    baselines = {m.item.label: m for m in measurements if m.contender == REFERENCE}
    lines += [format_row(m, baselines.get(m.item.label)) for m in measurements]
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M).group(1).strip()
    except (OSError, AttributeError):
        return platform.processor() or "unknown"


def memory_total() -> str:
    try:
        with open("/proc/meminfo") as f:
            kib = int(re.search(r"^MemTotal:\s+(\d+) kB", f.read(), re.M).group(1))
        return f"{kib / MIB:.0f} GiB"
    except (OSError, AttributeError):
        return "unknown"


def publish(report: str, out: Path | None) -> None:
    """Prints a markdown report and, with --out, appends it to that file."""
    print(report)
    if out:
        with open(out, "a") as f:
            f.write(report + "\n")


@functools.lru_cache(maxsize=None)  # read once, when the run starts (see main)
def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def versions() -> str:
    found = [f"python {platform.python_version()}"]
    others = ("tiktoken", "tokenizers", "riptoken", "bpe-openai", "gigatoken", "quicktok-v1")
    for dist in ("jax", "jaxlib", "numpy", *others):
        try:
            found.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    found.append(f"jaxbpe {git_commit()}")
    return ", ".join(found)


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot (user, nice, system, irq, softirq)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    return sum(int(x) for x in fields[1:4] + fields[6:8]) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """Other work on the machine skews the timings: how many cores it kept busy,
    on average, while the benchmark ran (the machine's CPU time less this process's)."""

    def __init__(self):
        self.machine, self.own, self.wall = machine_busy_seconds(), time.process_time(), time.perf_counter()

    def describe(self) -> str:
        machine = machine_busy_seconds()
        if machine is None or self.machine is None:
            return "unknown"
        others = (machine - self.machine) - (time.process_time() - self.own)
        return f"{max(others, 0.0) / (time.perf_counter() - self.wall):.2f} cores"


def backend_description() -> str:
    device = jax.devices()[0]
    return f"{jax.default_backend()} ({device.device_kind}, {jax.device_count()} device(s))"


METHOD = """\
- MB/s: 10^6 bytes of UTF-8 input per second, median of the timed runs ("runs").
  "repeated" documents (and the batch and pathological inputs): after one untimed
  warm-up on the same text, runs repeat up to {repeats} times or until they took {budget} s,
  so caches hold the document's pieces. "first" documents: each run is a first call on
  another document of that kind and size that the tokenizer has not seen (consecutive,
  disjoint slices of the kind's text, measured before any repeated input; the tokenizer
  has encoded other documents and kinds before, and a short warm-up text). The kinds
  share sources (multilingual and json hold the catalogs of cjk, cyrillic and
  arabic_indic), so a kind's new documents leave out every line of {shared_line} bytes or
  more that an earlier kind's held. Pathological "first" inputs are new random texts of
  the same generator (another seed each run). Each
  tokenizer's first calls run on a thread of its own, so that jaxbpe's host piece
  cache, kept per thread, has not seen the documents another jaxbpe entry point has
  just encoded. min..max
  is the spread of the runs. Mtok/s counts the ids the tokenizer returned.
- × tiktoken: tiktoken's single-threaded median time over this one's, on the same input.
- exact: the ids equal tiktoken's `encode_ordinary` (jit: `tokens[:count]` per row).
- peak RSS +MiB: how far the process's resident memory rose above where it stood at
  the start of one more, untimed run (Linux `clear_refs`, after `malloc_trim`, which
  would slow a timed run down). It includes the output (Python lists, numpy or JAX
  arrays); memory that an allocator kept from an earlier run and reused is not seen;
  GPU memory is not included.
- (N thr): the threads asked for ("auto": the library's choice); cores busy, the
  process's CPU time (all threads) over wall time, median over the runs, shows what
  was used. First calls have no peak RSS column (n/a): that takes another call.
- HF tokenizers run only with --hf (about 1 MB/s).
- jaxbpe jit: `jax.jit(jaxbpe.encode)` on the default backend with `max_tokens` = row
  length; the bytes are laid out (`to_bytes_batch`) and the program compiled before
  timing; the timed call takes the numpy arrays, so it includes their copy to the
  device, and waits (`block_until_ready`) for the ids, which stay on the device.
- HF tokenizers: a byte-level BPE built from the same ranks (see
  `hf_tokenizer_from_ranks`); `encode`/`encode_batch`, which also compute offsets,
  then `.ids`.
- Tokenizers that only exist as batch APIs (or only as single ones) appear only on
  the inputs they apply to; bpe-openai and quicktok use the rank files bundled in
  their packages.
- Caches: jaxbpe's host encoder keeps each thread's cache of recently seen pieces
  between calls (up to 393,216 pieces of up to 256 bytes, an 8 MiB document's of any
  kind), so a repeated document finds its pieces cached (gigatoken keeps such a cache
  too); the "first" rows show new text."""


def report(
    args_line: str,
    settings: Settings,
    results: dict[str, list[Measurement]],
    notes: list[str],
    plots: dict[str, list[Path]],
    out_dir: Path | None,
    other_load: str,
    duration_s: float,
) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"## Benchmark, {now}",
        "",
        f"- command: `{args_line}` ({duration_s / 60:.1f} min)",
        f"- machine: {cpu_model()}, {ALL_CORES} cores usable ({os.cpu_count()} online), {memory_total()} RAM, "
        f"{platform.system()} {platform.release()}; other processes kept {other_load} busy on average during the run",
        f"- JAX backend: {backend_description()}",
        f"- versions: {versions()}",
        METHOD.format(repeats=settings.repeats, budget=settings.budget_s, shared_line=SHARED_LINE_BYTES),
    ]
    parts += [f"- note: {n}" for n in notes]
    for name, measurements in results.items():
        parts += ["", f"### {name}", "", results_table(measurements)]
        for plot in plots.get(name, []):
            parts += ["", f"![{plot.stem}]({os.path.relpath(plot, out_dir)})"]
    return "\n".join(parts) + "\n"


def write_plots(name: str, measurements: list[Measurement], plot_dir: Path) -> list[Path]:
    """Throughput against document size per kind, and the batch, as PNGs (if matplotlib is installed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    plot_dir.mkdir(parents=True, exist_ok=True)
    ok = [m for m in measurements if not m.error]

    columns = -(-len(KINDS) // 2)
    fig, axes = plt.subplots(2, columns, figsize=(4 * columns, 8), sharey=True, squeeze=False)
    for ax, kind in zip(axes.flat, KINDS):
        singles = [m for m in ok if m.item.group == "single" and m.item.kind == kind]
        for contender in dict.fromkeys(m.contender for m in singles):
            points = sorted(
                (m.item.size, mb_per_s(m.item.size, m.median_s)) for m in singles if m.contender == contender
            )
            ax.plot(*zip(*points), marker="o", label=contender)
        ax.set(xscale="log", yscale="log", title=kind, xlabel="document size (bytes)")
    for row in axes:
        row[0].set_ylabel("MB/s (median)")
    axes.flat[len(KINDS) - 1].legend(fontsize="small")
    fig.suptitle(f"{name}: one repeated document at a time")
    fig.tight_layout()
    size_plot = plot_dir / f"throughput_vs_size_{name}.png"
    fig.savefig(size_plot, dpi=110)
    plt.close(fig)

    batch = [m for m in ok if m.item.group == "batch"]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(batch) + 1.5))
    ax.barh([m.contender for m in batch], [mb_per_s(m.item.size, m.median_s) for m in batch])
    ax.invert_yaxis()
    ax.set(xlabel="MB/s (median)", title=f"{name}: {batch[0].item.label}" if batch else name)
    fig.tight_layout()
    batch_plot = plot_dir / f"batch_{name}.png"
    fig.savefig(batch_plot, dpi=110)
    plt.close(fig)
    return [size_plot, batch_plot]


# -- command line ------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs and few runs (a smoke test, under a minute)")
    parser.add_argument("--big", action="store_true", help="also 64 MiB documents (ignored with --quick)")
    parser.add_argument(
        "--encodings", default="r50k_base,cl100k_base,o200k_base", help="comma-separated (default: %(default)s)"
    )
    parser.add_argument("--hf", action="store_true", help="also Hugging Face tokenizers (slow: about 1 MB/s)")
    parser.add_argument("--out", type=Path, help="markdown file to append the report to; plots go to plots/ beside it")
    return parser.parse_args(argv)


def build_inputs(settings: Settings, notes: list[str]) -> list[Input]:
    skipped: list[str] = []
    inputs = (
        first_call_documents(settings.single_sizes, settings.first_calls, skipped)
        + single_documents(settings.single_sizes, skipped)
        + [batch_of_documents(settings.batch_count, settings.batch_doc_size)]
        + pathological_inputs(settings.pathological_size, settings.first_calls)
    )
    notes += [f"skipped input {s}" for s in skipped]
    return inputs


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.big and not args.quick:
        settings = dataclasses.replace(settings, single_sizes=settings.single_sizes + (64 * MIB,))
    names = [n.strip() for n in args.encodings.split(",") if n.strip()]
    git_commit()  # the commit measured, not one made while the run goes on
    progress, notes, other_load = Progress(), [], OtherLoad()
    progress.show("reading the corpus")
    inputs = build_inputs(settings, notes)
    results = {}
    for i, name in enumerate(names, 1):
        results[name] = benchmark_encoding(name, f"[{i}/{len(names)}]", inputs, settings, progress, notes, args.hf)
    progress.done()

    plots = {}
    if args.out:
        plots = {name: write_plots(name, ms, args.out.parent / "plots") for name, ms in results.items()}
    command = shlex.join(["python", "benchmarks/bench.py", *argv])
    out_dir = args.out.parent if args.out else None
    text = report(
        command, settings, results, notes, plots, out_dir, other_load.describe(), time.perf_counter() - progress.started
    )
    print(text)
    if args.out:
        new_file = not args.out.exists()
        with open(args.out, "a") as f:
            f.write("# jaxbpe benchmark results\n" if new_file else "")
            f.write("\n" + text)

    failures = [m for ms in results.values() for m in ms if m.is_jaxbpe and m.failed_exactness]
    for m in failures:
        print(f"jaxbpe FAILED: {m.contender} on {m.item.label}: {m.error or m.exact}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
