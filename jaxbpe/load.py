"""tiktoken.load's API: rank files and GPT-2's release files from a path or a URL, with
tiktoken's cache of downloads. jaxbpe's parsers read them (errors name file and line)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path

from . import vocab
from .vocab import load_gpt2_vocab, parse_tiktoken_bpe, read_bytes


def read_file(blobpath: str) -> bytes:
    """The bytes of a local file (gunzipped when it ends in .gz), an http(s) URL, or, with
    the blobfile package, any other URL blobfile reads."""
    if "://" not in blobpath:
        return read_bytes(blobpath)
    if blobpath.startswith(("http://", "https://")):
        return download(blobpath, blobpath.rsplit("/", 1)[-1])
    try:
        import blobfile
    except ImportError as e:
        raise ImportError("blobfile is not installed. Please install it by running `pip install blobfile`.") from e
    return blobfile.read_bytes(blobpath)


def check_hash(data: bytes, expected_hash: str) -> bool:
    return hashlib.sha256(data).hexdigest() == expected_hash


def tiktoken_cache_path(blobpath: str) -> Path | None:
    """Where tiktoken caches a download ($TIKTOKEN_CACHE_DIR, $DATA_GYM_CACHE_DIR or the
    temporary directory's data-gym-cache), or None when caching is off (set to "")."""
    root = os.environ.get("TIKTOKEN_CACHE_DIR", os.environ.get("DATA_GYM_CACHE_DIR"))
    if root is None:
        root = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return Path(root) / hashlib.sha1(blobpath.encode()).hexdigest() if root else None


def read_file_cached(blobpath: str, expected_hash: str | None = None) -> bytes:
    """read_file, through tiktoken's cache for URLs (a cached copy with the wrong hash
    is fetched again); the data is checked against expected_hash."""
    cache = tiktoken_cache_path(blobpath) if "://" in blobpath else None
    if cache is not None and cache.exists():
        data = cache.read_bytes()
        if expected_hash is None or check_hash(data, expected_hash):
            return data
    data = read_file(blobpath)
    vocab.check_hash(data, expected_hash or None, blobpath)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.{uuid.uuid4()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(cache)
        except OSError:
            if os.environ.get("TIKTOKEN_CACHE_DIR", os.environ.get("DATA_GYM_CACHE_DIR")) is not None:
                raise  # a cache the user chose must work; tiktoken's default may be read-only
    return data


def load_tiktoken_bpe(tiktoken_bpe_file: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """{token bytes: rank} of a tiktoken rank file (`base64(token) rank` lines)."""
    return parse_tiktoken_bpe(read_file_cached(tiktoken_bpe_file, expected_hash), tiktoken_bpe_file)


def data_gym_to_mergeable_bpe_ranks(
    vocab_bpe_file: str,
    encoder_json_file: str,
    vocab_bpe_hash: str | None = None,
    encoder_json_hash: str | None = None,
    clobber_one_byte_tokens: bool = False,
) -> dict[bytes, int]:
    """The ranks of GPT-2's vocab.bpe + encoder.json (tiktoken's "data gym" format)."""
    return load_gpt2_vocab(
        read_file_cached(vocab_bpe_file, vocab_bpe_hash),
        read_file_cached(encoder_json_file, encoder_json_hash),
        vocab_bpe_file,
        encoder_json_file,
        clobber_one_byte_tokens=clobber_one_byte_tokens,
    )


def dump_tiktoken_bpe(bpe_ranks: dict[bytes, int], tiktoken_bpe_file: str) -> None:
    """Writes ranks as a tiktoken rank file (a local path, or a URL through blobfile)."""
    lines = b"".join(
        base64.b64encode(token) + b" " + str(rank).encode() + b"\n"
        for token, rank in sorted(bpe_ranks.items(), key=lambda x: x[1])
    )
    if "://" not in tiktoken_bpe_file:
        Path(tiktoken_bpe_file).write_bytes(lines)
        return
    try:
        import blobfile
    except ImportError as e:
        raise ImportError("blobfile is not installed. Please install it by running `pip install blobfile`.") from e
    with blobfile.BlobFile(tiktoken_bpe_file, "wb") as f:
        f.write(lines)


def download(url: str, what: str) -> bytes:
    """Downloads with a progress line on stderr."""
    with urllib.request.urlopen(url, timeout=30) as response:
        total = int(response.headers.get("Content-Length") or 0)
        buf = io.BytesIO()
        while chunk := response.read(1 << 20):
            buf.write(chunk)
            if total:
                print(f"\r  {what}: {buf.tell() / 2**20:.1f} / {total / 2**20:.1f} MiB", end="", file=sys.stderr)
        if total:
            print(file=sys.stderr)
        return buf.getvalue()
