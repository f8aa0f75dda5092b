"""A deterministic corpus of real text that nobody on this project wrote, built from
what a Debian machine with Python already holds (no network needed):

- english: the system's English manual pages (/usr/share/man/man*/, troff source),
- multilingual: the translated messages of the gettext catalogs under
  /usr/share/locale (dozens of languages and scripts), interleaved by language so
  every prefix mixes them,
- code: the Python standard library's source.

Files are read in sorted order and cut to the requested size, so the same machine
image always yields the same bytes. `python benchmarks/corpus.py --out DIR` writes the
parts (plus any --extra files the user names) and a MANIFEST with their provenance.
With $JAXBPE_CORPUS_DIR set to such a folder, the text comes from its parts instead (a
machine without these sources, such as the GPU machine: scripts/prepare_gpu_check.sh),
cut into documents of about 16 KiB at line ends.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import struct
import sysconfig
from collections.abc import Iterator
from pathlib import Path

MAN_ROOT = Path("/usr/share/man")
LOCALE_ROOT = Path("/usr/share/locale")
STDLIB_ROOT = Path(sysconfig.get_paths()["stdlib"])

SOURCES = {
    "english": f"English manual pages, {MAN_ROOT}/man*/*.gz (troff source)",
    "multilingual": f"translated gettext messages, {LOCALE_ROOT}/*/LC_MESSAGES/*.mo, round-robin by language",
    "code": f"Python standard library source, {STDLIB_ROOT}/**/*.py",
}


def _english() -> Iterator[str]:
    for path in sorted(MAN_ROOT.glob("man*/*.gz")):
        try:
            yield gzip.decompress(path.read_bytes()).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue


def _catalog_messages(path: Path) -> str:
    """The translations in a GNU .mo catalog (format: gettext manual, "MO Files")."""
    data = path.read_bytes()
    order = {0x950412DE: "<", 0xDE120495: ">"}.get(struct.unpack("<I", data[:4])[0])
    if order is None:
        return ""
    count, _, translations = struct.unpack(order + "3I", data[8:20])
    messages = []
    for i in range(1, count):  # entry 0 is the catalog's header
        length, offset = struct.unpack(order + "2I", data[translations + 8 * i : translations + 8 * i + 8])
        try:
            messages.append(data[offset : offset + length].decode("utf-8").replace("\0", "\n"))
        except UnicodeDecodeError:
            return ""  # a catalog in a legacy charset
    return "\n".join(messages)


def _multilingual() -> Iterator[str]:
    languages = sorted(p for p in LOCALE_ROOT.iterdir() if (p / "LC_MESSAGES").is_dir())
    per_language = [
        (_catalog_messages(mo) for mo in sorted((lang / "LC_MESSAGES").glob("*.mo"))) for lang in languages
    ]
    # One catalog of each language in turn, so that a prefix holds every script.
    for batch in itertools.zip_longest(*per_language):
        yield from (text for text in batch if text)


def _code() -> Iterator[str]:
    for path in sorted(STDLIB_ROOT.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            yield path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue


_GENERATORS = {"english": _english, "multilingual": _multilingual, "code": _code}


SAVED_DOCUMENT_BYTES = 16 << 10


def _saved(folder: Path, kind: str) -> Iterator[str]:
    """A saved part (corpus.py --out) cut into documents at the first line end after
    every SAVED_DOCUMENT_BYTES characters."""
    text = (folder / f"{kind}.txt").read_text(encoding="utf-8")
    start = 0
    while start < len(text):
        end = text.find("\n", start + SAVED_DOCUMENT_BYTES)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _documents_of(kind: str) -> Iterator[str]:
    if folder := os.environ.get("JAXBPE_CORPUS_DIR"):
        return _saved(Path(folder), kind)
    return _GENERATORS[kind]()


def documents(kind: str, size: int) -> list[str]:
    """Whole documents of one kind, in a fixed order, until `size` UTF-8 bytes."""
    docs, total = [], 0
    for doc in _documents_of(kind):
        docs.append(doc)
        total += len(doc.encode())
        if total >= size:
            return docs
    raise RuntimeError(f"only {total} bytes of {kind} text on this machine ({SOURCES[kind]}), wanted {size}")


def text(kind: str, size: int) -> str:
    """Exactly the first `size` bytes of a kind (cut back to a character boundary)."""
    data = "".join(documents(kind, size)).encode()[:size]
    return data.decode("utf-8", errors="ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=64 << 20, help="bytes per part (default 64 MiB)")
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="more text files to include as parts")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for kind in _GENERATORS:
        data = text(kind, args.size).encode()
        (args.out / f"{kind}.txt").write_bytes(data)
        manifest.append(f"{kind}.txt\t{len(data)} bytes\t{SOURCES[kind]}")
        print(manifest[-1], flush=True)
    for extra in args.extra:
        data = extra.read_bytes()
        (args.out / extra.name).write_bytes(data)
        manifest.append(f"{extra.name}\t{len(data)} bytes\tuser file {extra}")
    (args.out / "MANIFEST").write_text("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
