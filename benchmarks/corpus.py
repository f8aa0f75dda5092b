"""A deterministic corpus of real text that nobody on this project wrote, built from
what a Debian machine with Python already holds (no network needed):

- english: the system's English manual pages (/usr/share/man/man*/, troff source),
- multilingual: the translated messages of the gettext catalogs under
  /usr/share/locale (dozens of languages and scripts), interleaved by language so
  every prefix mixes them,
- code: the Python standard library's source,
- cjk, cyrillic, arabic_indic: the gettext catalogs (and translated manual pages) of
  Chinese, Japanese and Korean; of Russian, Ukrainian and other Cyrillic languages; of
  Arabic-script and Indic languages, round-robin by language,
- markdown: the Markdown files under /usr/share/doc,
- json: the iso-codes JSON tables, then every gettext catalog as a JSON object,
- minified_js: jQuery's minified build, then npm's own modules with comments and
  indentation stripped and lines joined (a deterministic stand-in for a minifier),
- polyglot_code: C headers (/usr/include), Perl modules and JavaScript, round-robin.

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
import json
import os
import re
import struct
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path

MAN_ROOT = Path("/usr/share/man")
LOCALE_ROOT = Path("/usr/share/locale")
STDLIB_ROOT = Path(sysconfig.get_paths()["stdlib"])
DOC_ROOT = Path("/usr/share/doc")
JS_ROOTS = (Path("/usr/share/javascript"), Path("/usr/lib/node_modules"))

# Languages (gettext and manual page directory names) of the script kinds.
SCRIPT_LANGUAGES = {
    "cjk": ("zh_CN", "ja", "ko", "zh_TW", "zh_HK"),
    "cyrillic": ("ru", "uk", "bg", "be", "sr", "mk", "kk", "ky", "mn", "tg", "tt", "ba", "cv"),
    "arabic_indic": ("ar", "hi", "fa", "bn", "ur", "mr", "ta", "te", "ne", "gu", "kn", "ml", "pa", "ps", "ckb", "ug"),
}

SOURCES = {
    "english": f"English manual pages, {MAN_ROOT}/man*/*.gz (troff source)",
    "multilingual": f"translated gettext messages, {LOCALE_ROOT}/*/LC_MESSAGES/*.mo, round-robin by language",
    "code": f"Python standard library source, {STDLIB_ROOT}/**/*.py",
    **{
        kind: f"gettext catalogs and manual pages of {', '.join(langs)}, round-robin by language"
        for kind, langs in SCRIPT_LANGUAGES.items()
    },
    "markdown": f"Markdown files, {DOC_ROOT}/**/*.md[.gz]",
    "json": "/usr/share/iso-codes/json/*.json, then the gettext catalogs as JSON objects",
    "minified_js": f"jquery.min.js, then {JS_ROOTS[1]}/**/*.js with comments and indentation stripped",
    "polyglot_code": "/usr/include/**/*.h, /usr/share/perl/**/*.pm and npm's JavaScript, round-robin",
}


def _read(path: Path) -> str | None:
    """A file's UTF-8 text (gunzipped when it ends in .gz), or None."""
    try:
        data = path.read_bytes()
        return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError):
        return None


def _texts(paths: Iterator[Path]) -> Iterator[str]:
    return (text for text in map(_read, sorted(paths)) if text)


def _english() -> Iterator[str]:
    return _texts(MAN_ROOT.glob("man*/*.gz"))


def _round_robin(sources: list[Iterator[str]]) -> Iterator[str]:
    for batch in itertools.zip_longest(*sources):
        yield from (text for text in batch if text)


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
    per_language = [(_catalog_messages(mo) for mo in sorted((lang / "LC_MESSAGES").glob("*.mo"))) for lang in languages]
    # One catalog of each language in turn, so that a prefix holds every script.
    return _round_robin(per_language)


def _language(lang: str) -> Iterator[str]:
    """A language's catalogs, then its translated manual pages."""
    yield from (text for text in map(_catalog_messages, sorted(LOCALE_ROOT.glob(f"{lang}/LC_MESSAGES/*.mo"))) if text)
    yield from _texts(MAN_ROOT.glob(f"{lang}/man*/*.gz"))


def _script(kind: str) -> Callable[[], Iterator[str]]:
    return lambda: _round_robin([_language(lang) for lang in SCRIPT_LANGUAGES[kind]])


def _markdown() -> Iterator[str]:
    return _texts(p for p in DOC_ROOT.rglob("*") if p.name.endswith((".md", ".md.gz")))


def _json() -> Iterator[str]:
    yield from _texts(Path("/usr/share/iso-codes/json").glob("*.json"))
    for mo in sorted(LOCALE_ROOT.glob("*/LC_MESSAGES/*.mo")):
        if messages := _catalog_messages(mo):
            record = {"catalog": mo.stem, "language": mo.parent.parent.name, "messages": messages.split("\n")}
            yield json.dumps(record, ensure_ascii=False, indent=1) + "\n"


_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def _stripped_js(source: str) -> str:
    lines = (line.strip() for line in _BLOCK_COMMENT.sub("", source).splitlines())
    return "".join(
        line if line.endswith((";", "{", "}", ",", "(")) else line + ";"
        for line in lines
        if line and not line.startswith("//")
    )


def _minified_js() -> Iterator[str]:
    yield from _texts(JS_ROOTS[0].rglob("*.min.js"))
    yield from map(_stripped_js, _texts(p for p in JS_ROOTS[1].rglob("*.js") if not p.name.endswith(".min.js")))


def _polyglot_code() -> Iterator[str]:
    return _round_robin(
        [
            _texts(Path("/usr/include").rglob("*.h")),
            _texts(Path("/usr/share/perl").rglob("*.pm")),
            _texts(p for p in JS_ROOTS[1].rglob("*.js") if not p.name.endswith(".min.js")),
        ]
    )


def _code() -> Iterator[str]:
    return _texts(p for p in STDLIB_ROOT.rglob("*.py") if "site-packages" not in p.parts)


_GENERATORS: dict[str, Callable[[], Iterator[str]]] = {
    "english": _english,
    "multilingual": _multilingual,
    "code": _code,
    **{kind: _script(kind) for kind in SCRIPT_LANGUAGES},
    "markdown": _markdown,
    "json": _json,
    "minified_js": _minified_js,
    "polyglot_code": _polyglot_code,
}
KINDS = tuple(_GENERATORS)


SAVED_DOCUMENT_BYTES = 16 << 10


def _saved(folder: Path, kind: str) -> Iterator[str]:
    """A saved part (corpus.py --out) cut into documents at the first line end after
    every SAVED_DOCUMENT_BYTES characters."""
    path = folder / f"{kind}.txt"
    if not path.is_file():
        return  # not saved: no text of this kind
    text = path.read_text(encoding="utf-8")
    start = 0
    while start < len(text):
        end = text.find("\n", start + SAVED_DOCUMENT_BYTES)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def stream(kind: str) -> Iterator[str]:
    """All the documents of one kind this machine has, in a fixed order."""
    if folder := os.environ.get("JAXBPE_CORPUS_DIR"):
        return _saved(Path(folder), kind)
    return _GENERATORS[kind]()


def documents(kind: str, size: int) -> list[str]:
    """Whole documents of one kind, in a fixed order, until `size` UTF-8 bytes (or all
    this machine has, when that is less)."""
    docs, total = [], 0
    for doc in stream(kind):
        docs.append(doc)
        total += len(doc.encode())
        if total >= size:
            break
    return docs


def prefix(kind: str, size: int) -> str:
    """The first `size` bytes of a kind (cut back to a character boundary), or all of it."""
    data = "".join(documents(kind, size)).encode()[:size]
    return data.decode("utf-8", errors="ignore")


def text(kind: str, size: int) -> str:
    """Exactly the first `size` bytes of a kind (cut back to a character boundary)."""
    data = prefix(kind, size)
    if len(data.encode()) < size - 3:
        raise RuntimeError(
            f"only {len(data.encode())} bytes of {kind} text on this machine ({SOURCES[kind]}), wanted {size}"
        )
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=64 << 20, help="bytes per part (default 64 MiB)")
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="more text files to include as parts")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated (default: all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for kind in args.kinds.split(","):
        try:
            data = text(kind, args.size).encode()
        except RuntimeError as e:
            print(f"skipped: {e}", flush=True)
            continue
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
