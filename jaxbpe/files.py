"""`python -m jaxbpe encode`: tokenizing files into one id stream, e.g. a dataset shard.

Documents are whole files, or with `--jsonl` one JSON object per line (its "text"
field). Their ids go out end to end, each document followed by the end-of-text token,
as .npy or as raw little-endian .bin, uint16 when every id fits and uint32 otherwise.
Special-token text in a document is encoded as ordinary text (`encode_ordinary`).
The output appears only once complete: it is written next to its name with a `.part`
suffix and renamed at the end, and an interrupt (Ctrl-C) or an error removes the part.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from .core import Encoding

# Documents tokenized at once by the thread pool: bounds the memory held in flight.
WINDOW = 256


def documents(paths: list[Path], *, jsonl: bool, field: str) -> Iterator[tuple[bytes | str, int]]:
    """(document, bytes of input it used up), in order."""
    for path in paths:
        if not jsonl:
            data = path.read_bytes()
            yield data, len(data)
            continue
        with path.open("rb") as f:
            blank = 0  # bytes of blank lines, which are no documents
            for number, line in enumerate(f, 1):
                if not line.strip():
                    blank += len(line)
                    continue
                try:
                    record = json.loads(line)
                    text = record[field]
                except (ValueError, TypeError, KeyError):
                    raise ValueError(f"{path}:{number}: not a JSON object with a string {field!r} field") from None
                if not isinstance(text, str):
                    raise ValueError(f"{path}:{number}: {field!r} is {type(text).__name__}, not a string")
                yield text, blank + len(line)
                blank = 0


def id_dtype(enc: Encoding) -> np.dtype:
    return np.dtype("<u2") if enc.n_vocab <= 1 << 16 else np.dtype("<u4")


class Progress:
    """Bytes and tokens so far with their rates: a bar redrawn in place on a terminal,
    a plain line every `every` seconds elsewhere (a log, a pipe)."""

    def __init__(self, total_bytes: int | None, stream: TextIO = sys.stderr, every: float = 5.0):
        self.total, self.stream = total_bytes, stream
        self.tty = stream.isatty()
        self.every = 0.1 if self.tty else every
        self.start = self.last = time.perf_counter()
        self.bytes = self.tokens = self.documents = 0

    def add(self, documents: int, nbytes: int, tokens: int) -> None:
        self.documents += documents
        self.bytes += nbytes
        self.tokens += tokens
        if time.perf_counter() - self.last >= self.every:
            self.show()

    def line(self) -> str:
        seconds = max(time.perf_counter() - self.start, 1e-9)
        done = f"{self.bytes / 1e6:,.1f} MB"
        if self.total:
            done += f" / {self.total / 1e6:,.1f} MB ({100 * self.bytes / self.total:.0f}%)"
        return (
            f"{done}, {self.documents:,} documents, {self.tokens:,} tokens; "
            f"{self.bytes / seconds / 1e6:.1f} MB/s, {self.tokens / seconds / 1e6:.2f} Mtok/s"
        )

    def show(self, final: bool = False) -> None:
        self.last = time.perf_counter()
        text = self.line()
        if self.tty:
            bar = ""
            if self.total:
                filled = int(30 * min(self.bytes / self.total, 1.0))
                bar = "[" + "#" * filled + "." * (30 - filled) + "] "
            print(f"\r\x1b[2K{bar}{text}", end="\n" if final else "", file=self.stream, flush=True)
        else:
            print(f"encode: {text}", file=self.stream, flush=True)


def encode_files(
    enc: Encoding,
    paths: list[Path],
    *,
    out: Path | None,
    jsonl: bool = False,
    field: str = "text",
    eot: bool = True,
    threads: int = os.cpu_count() or 1,
    progress_stream: TextIO = sys.stderr,
) -> tuple[int, int]:
    """Tokenizes the documents of `paths` into `out` (.npy or .bin; None: count only).

    Returns (documents, tokens)."""
    if out is not None and out.suffix not in (".npy", ".bin"):
        raise ValueError(f"--out must end in .npy or .bin, got {out}")
    total = sum(p.stat().st_size for p in paths) if all(p.is_file() for p in paths) else None
    progress = Progress(total, progress_stream)
    dtype = id_dtype(enc)
    part = out.with_name(out.name + ".part") if out is not None else None
    try:
        with open(part, "wb") if part is not None else open(os.devnull, "wb") as sink:
            _encode_into(enc, documents(paths, jsonl=jsonl, field=field), sink, dtype, eot, threads, progress)
        progress.show(final=True)
        if out is not None and part is not None:
            if out.suffix == ".npy":
                _raw_to_npy(part, dtype)
            part.replace(out)
    except BaseException:  # KeyboardInterrupt included: no partial output survives
        if part is not None:
            part.unlink(missing_ok=True)
        raise
    return progress.documents, progress.tokens


def _encode_into(enc, docs, sink: BinaryIO, dtype, eot: bool, threads: int, progress: Progress) -> None:
    tail = np.array([enc.eot_token] if eot else [], dtype)
    # A document's special-token text is ordinary text (a dataset is data, not markup).
    encode = functools.partial(enc.encode_to_numpy, disallowed_special=())
    with ThreadPoolExecutor(max(1, threads)) as pool:  # the native encoder releases the GIL
        while window := list(itertools.islice(docs, WINDOW)):
            tokens = 0
            for ids in pool.map(encode, [text for text, _ in window]):
                sink.write(ids.astype(dtype).tobytes() + tail.tobytes())
                tokens += ids.size + tail.size
            progress.add(len(window), sum(n for _, n in window), tokens)


def _raw_to_npy(path: Path, dtype: np.dtype) -> None:
    """Rewrites raw ids as .npy in place of `path` (through a second part file)."""
    staged = path.with_name(path.name + ".npy")
    np.save(staged, np.memmap(path, dtype, "r") if path.stat().st_size else np.zeros(0, dtype))
    staged.replace(path)
