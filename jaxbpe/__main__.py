"""Command line: `python -m jaxbpe fetch NAME...`, `python -m jaxbpe encode FILE...`
(tokenize files, e.g. a dataset shard; see files.py) and `python -m jaxbpe demo [FILE]`."""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import time
from pathlib import Path

import jaxbpe
from jaxbpe import files, registry


def fetch(names: list[str]) -> int:
    for name in names or jaxbpe.list_encoding_names():
        f = registry.known_encoding(name).ranks
        print(f"{name}: {f.filename} ...", file=sys.stderr, flush=True)
        data = registry.rank_file_bytes(f)
        print(f"{name}: ok, {len(data):,} bytes, sha256 {f.sha256[:16]}…", file=sys.stderr)
    return 0


def _default_document() -> Path:
    """A real text every Python installation has: the standard library's longest module."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return max(stdlib.glob("*.py"), key=lambda p: p.stat().st_size)


def demo(path: Path, name: str) -> int:
    """Tokenizes a file three ways (host API, jitted custom call, tiktoken if installed)
    and reports counts, agreement and speed."""
    import jax
    import numpy as np

    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    data = path.read_bytes()
    print(f"document: {path} ({len(data):,} bytes)")
    t = time.perf_counter()
    enc = jaxbpe.get_encoding(name)
    print(f"encoding: {enc!r}, loaded in {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    ids = enc.encode_to_numpy(data)
    host_s = time.perf_counter() - t
    print(f"host encode:   {ids.size:,} tokens in {host_s * 1e3:.1f} ms ({len(data) / host_s / 1e6:.1f} MB/s)")
    print(f"first tokens:  {ids[:12].tolist()} -> {enc.decode(ids[:12].tolist())!r}")

    batch, lengths = jaxbpe.to_bytes_batch([data])
    encode = jax.jit(jaxbpe.encode)
    jax.block_until_ready(encode(enc, batch, lengths))  # compile
    t = time.perf_counter()
    tokens, counts = jax.block_until_ready(encode(enc, batch, lengths))
    jit_s = time.perf_counter() - t
    same = np.array_equal(np.asarray(tokens)[0, : int(counts[0])], ids)
    print(f"jitted encode: {int(counts[0]):,} tokens in {jit_s * 1e3:.1f} ms on {jax.default_backend()}; "
          f"{'identical to' if same else 'DIFFERENT FROM'} the host ids")
    ok = same and enc.decode_bytes(ids) == data
    print(f"round trip:    decode(encode(document)) {'==' if enc.decode_bytes(ids) == data else '!='} document")
    try:
        ref = enc.to_tiktoken()
    except ImportError:  # tiktoken is not installed
        return 0 if ok else 1
    t = time.perf_counter()
    expected = ref.encode_ordinary(text)
    ref_s = time.perf_counter() - t
    match = expected == ids.tolist()
    print(f"tiktoken:      {len(expected):,} tokens in {ref_s * 1e3:.1f} ms; jaxbpe is "
          f"{ref_s / host_s:.1f}x as fast on one thread; ids {'identical' if match else 'DIFFERENT'}")
    return 0 if ok and match else 1


def encode(args: argparse.Namespace) -> int:
    enc = jaxbpe.get_encoding(args.encoding)
    docs, tokens = files.encode_files(
        enc, args.files, out=args.out, jsonl=args.jsonl, field=args.field, eot=not args.no_eot, threads=args.threads
    )
    where = f" -> {args.out} ({files.id_dtype(enc).name})" if args.out else ""
    print(f"{docs:,} documents, {tokens:,} tokens{where}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxbpe", description=jaxbpe.__doc__)
    parser.add_argument("--version", action="version", version=f"jaxbpe {jaxbpe.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch", help="download and verify rank files (all known encodings by default)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p = sub.add_parser("encode", help="tokenize files (whole files, or JSON lines) into one id stream")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--encoding", default="gpt2")
    p.add_argument("--jsonl", action="store_true", help="each line of a FILE is a JSON object holding a document")
    p.add_argument("--field", default="text", help="the documents' field with --jsonl (default: text)")
    p.add_argument("--out", type=Path, help="write the ids here: .npy, or .bin (raw little-endian uint16/uint32)")
    p.add_argument("--no-eot", action="store_true", help="no end-of-text token after each document")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p = sub.add_parser("demo", help="tokenize a real text (by default one found on this machine), next to tiktoken")
    p.add_argument("file", nargs="?", type=Path)
    p.add_argument("--encoding", default="gpt2")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            return fetch(args.names)
        if args.command == "encode":
            return encode(args)
        return demo(args.file or _default_document(), args.encoding)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; no output was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
