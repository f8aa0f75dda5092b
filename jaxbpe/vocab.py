"""Reading vocabulary files: tiktoken rank files, GPT-2's vocab.bpe + encoder.json, and
Hugging Face tokenizer.json byte-level BPE models. Each loader returns the mergeable
ranks as {token bytes: rank} and raises VocabularyError naming the file and line."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gzip
import hashlib
import json
import os
from pathlib import Path


class VocabularyError(ValueError):
    """A vocabulary file is missing, corrupt, or not what it claims to be."""


class VocabularyFileNotFoundError(VocabularyError, FileNotFoundError):
    """A vocabulary file is missing (a FileNotFoundError too, as tiktoken raises)."""


class VocabularySizeError(VocabularyError, AssertionError):
    """explicit_n_vocab disagrees with the vocabulary (an AssertionError, as in tiktoken)."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: str | os.PathLike) -> bytes:
    """Reads a file, transparently gunzipping a `.gz` one."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VocabularyFileNotFoundError(f"vocabulary file not found: {path}") from None
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise VocabularyError(f"{path}: not a valid gzip file ({e})") from None
    return data


def check_hash(data: bytes, expected: str | None, path: str | os.PathLike) -> None:
    if expected is not None and (actual := sha256_of(data)) != expected:
        raise VocabularyError(
            f"{path}: sha256 {actual} does not match the expected {expected}; "
            "the file is corrupt, truncated or not this encoding's vocabulary"
        )


def parse_tiktoken_bpe(data: bytes, path: str | os.PathLike = "<bytes>") -> dict[bytes, int]:
    """Parses tiktoken's format: one `base64(token) rank` per line."""
    ranks: dict[bytes, int] = {}
    seen_ranks: dict[int, int] = {}
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise VocabularyError(f"{path}:{lineno}: expected 'base64-token rank', got {line[:80]!r}")
        try:
            token = base64.b64decode(parts[0], validate=True)
            rank = int(parts[1])
        except (binascii.Error, ValueError):
            raise VocabularyError(f"{path}:{lineno}: malformed line {line[:80]!r}") from None
        if rank < 0:
            raise VocabularyError(f"{path}:{lineno}: negative rank {rank}")
        if rank in seen_ranks:
            raise VocabularyError(f"{path}:{lineno}: duplicate rank {rank} (first on line {seen_ranks[rank]})")
        if token in ranks:
            raise VocabularyError(f"{path}:{lineno}: duplicate token {token!r}")
        seen_ranks[rank] = lineno
        ranks[token] = rank
    if not ranks:
        raise VocabularyError(f"{path}: no tokens")
    return ranks


def _gpt2_byte_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte (its `bytes_to_unicode`)."""
    printable = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    others = [b for b in range(256) if b not in printable]
    mapping = {chr(b): b for b in printable}
    mapping.update({chr(256 + i): b for i, b in enumerate(others)})
    return mapping


def _gpt2_token_bytes(token: str, alphabet: dict[str, int], where: str) -> bytes:
    try:
        return bytes(alphabet[ch] for ch in token)
    except KeyError as e:
        raise VocabularyError(f"{where}: {token!r} has a character outside GPT-2's byte alphabet: {e}") from None


def load_gpt2_vocab(
    vocab_bpe: bytes,
    encoder_json: bytes,
    vocab_bpe_path: str | os.PathLike = "vocab.bpe",
    encoder_json_path: str | os.PathLike = "encoder.json",
    *,
    clobber_one_byte_tokens: bool = False,
) -> dict[bytes, int]:
    """The ranks of GPT-2's original release files, given their contents (the paths
    name them in errors): ranks follow the merge order, as in tiktoken; encoder.json must
    agree with them. With clobber_one_byte_tokens the single bytes take encoder.json's
    ranks (tiktoken's option of that name)."""
    alphabet = _gpt2_byte_alphabet()
    byte_order = sorted(alphabet, key=lambda ch: ord(ch))
    ranks = {bytes([alphabet[ch]]): i for i, ch in enumerate(byte_order)}
    for lineno, line in enumerate(vocab_bpe.decode("utf-8").splitlines(), 1):
        if lineno == 1 and line.startswith("#version"):
            continue
        if not line.strip():
            continue
        parts = line.split()
        where = f"{vocab_bpe_path}:{lineno}"
        if len(parts) != 2:
            raise VocabularyError(f"{where}: expected two tokens, got {line[:80]!r}")
        merged = _gpt2_token_bytes(parts[0], alphabet, where) + _gpt2_token_bytes(parts[1], alphabet, where)
        if merged in ranks:
            raise VocabularyError(f"{where}: duplicate merge {line!r}")
        ranks[merged] = len(ranks)
    try:
        encoder = json.loads(encoder_json)
    except json.JSONDecodeError as e:
        raise VocabularyError(f"{encoder_json_path}: not valid JSON ({e})") from None
    from_json = {
        _gpt2_token_bytes(tok, alphabet, str(encoder_json_path)): rank
        for tok, rank in encoder.items()
        if tok not in ("<|endoftext|>", "<|startoftext|>")  # tiktoken drops these two
    }
    if clobber_one_byte_tokens:
        ranks.update({token: rank for token, rank in from_json.items() if len(token) == 1})
    if from_json != ranks:
        raise VocabularyError(f"{encoder_json_path} does not agree with the merges in {vocab_bpe_path}")
    return ranks


@dataclasses.dataclass(frozen=True)
class TekkenFile:
    """A Mistral Tekken file (tekken_*.json): ids = rank + num_special_tokens."""

    ranks: dict[bytes, int]  # already offset: {token bytes: id}
    pat_str: str
    special_tokens: dict[str, int]
    n_vocab: int


# mistral_common's special tokens for a Tekken file without a list of its own (v3 and
# older): these 20 at ids 0..19, then "<SPECIAL_{id}>" up to num_special_tokens.
_TEKKEN_DEFAULT_SPECIALS = (
    "<unk>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[TOOL_CALLS]",
    "[IMG]",
    "<pad>",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[PREFIX]",
    "[MIDDLE]",
    "[SUFFIX]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
)


def parse_tekken_json(data: bytes, path: str | os.PathLike = "<bytes>") -> TekkenFile:
    """Reads a Tekken file as mistral_common does: the first default_vocab_size -
    default_num_special_tokens ranks of its vocab, each id offset by the number of
    special tokens, which take the ids below."""
    try:
        spec = json.loads(data)
        config = spec["config"]
        n_specials, n_vocab = int(config["default_num_special_tokens"]), int(config["default_vocab_size"])
        entries = sorted(spec["vocab"], key=lambda e: e["rank"])
        pat_str = config["pattern"]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise VocabularyError(f"{path}: not a Tekken file ({e!r})") from None
    n_ranks = n_vocab - n_specials
    if n_ranks > len(entries) or [e["rank"] for e in entries[:n_ranks]] != list(range(n_ranks)):
        raise VocabularyError(f"{path}: the ranks are not 0..{n_ranks - 1}")
    try:
        ranks = {base64.b64decode(e["token_bytes"], validate=True): e["rank"] + n_specials for e in entries[:n_ranks]}
    except binascii.Error as e:
        raise VocabularyError(f"{path}: a token_bytes field is not base64 ({e})") from None
    if len(ranks) != n_ranks:
        raise VocabularyError(f"{path}: duplicate tokens")
    if "special_tokens" in spec:
        specials = {t["token_str"]: t["rank"] for t in spec["special_tokens"]}
        specials |= {f"<SPECIAL_{i}>": i for i in range(len(specials), n_specials)}
    else:
        specials = tekken_default_specials(n_specials)
    return TekkenFile(ranks, pat_str, specials, n_vocab)


def tekken_default_specials(n_specials: int) -> dict[str, int]:
    """mistral_common's special tokens of a Tekken file without a list of them."""
    names = list(_TEKKEN_DEFAULT_SPECIALS) + [
        f"<SPECIAL_{i}>" for i in range(len(_TEKKEN_DEFAULT_SPECIALS), n_specials)
    ]
    return {name: i for i, name in enumerate(names)}


@dataclasses.dataclass(frozen=True)
class HFTokenizer:
    """What jaxbpe reproduces of a Hugging Face tokenizer.json (see parse_hf_tokenizer_json)."""

    ranks: dict[bytes, int]  # the model's ids, which are its merge ranks
    pattern: str  # a name of patterns.PATTERNS
    special_tokens: dict[str, int]  # added tokens marked special
    added_tokens: dict[str, int]  # the other added tokens: split out of any text
    normalizer: str | None  # "NFC" or None
    ignore_merges: bool  # the model looks a whole piece up first (tiktoken always does)


def parse_hf_tokenizer_json(data: bytes, path: str | os.PathLike = "<bytes>") -> HFTokenizer:
    """Maps a tokenizer.json onto jaxbpe: a byte-level BPE model whose merges are in id
    order, an optional NFC normalizer, a pre-tokenizer that one of jaxbpe's patterns
    reproduces exactly, and added tokens. Anything else is refused with a
    VocabularyError naming the step, rather than encoded differently from Hugging Face."""
    try:
        spec = json.loads(data)
        model = spec["model"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise VocabularyError(f"{path}: not a tokenizer.json file ({e})") from None
    if model.get("type") != "BPE":
        raise VocabularyError(f"{path}: model type {model.get('type')!r} is not BPE")
    for option, neutral in (("dropout", (None, 0, 0.0)), ("byte_fallback", (False, None))):
        if model.get(option) not in neutral:
            raise VocabularyError(f"{path}: the BPE model's {option}={model[option]!r} is not supported")
    for option in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(option):
            raise VocabularyError(f"{path}: the BPE model's {option}={model[option]!r} is not supported")
    alphabet = _gpt2_byte_alphabet()
    ranks = {_gpt2_token_bytes(tok, alphabet, str(path)): rank for tok, rank in model["vocab"].items()}
    if len(set(ranks.values())) != len(ranks):
        raise VocabularyError(f"{path}: duplicate ids in the vocabulary")
    ignore_merges = bool(model.get("ignore_merges", False))
    _check_merges(ranks, model.get("merges", []), alphabet, ignore_merges, path)
    special, added = _hf_added_tokens(spec.get("added_tokens", []), spec.get("normalizer") is not None, path)
    return HFTokenizer(
        ranks,
        _hf_pattern(spec.get("pre_tokenizer"), path),
        special,
        added,
        _hf_normalizer(spec.get("normalizer"), path),
        ignore_merges,
    )


def _check_merges(ranks: dict[bytes, int], merges: list, alphabet: dict[str, int], ignore_merges: bool, path) -> None:
    """jaxbpe merges the pair whose concatenation has the lowest id (tiktoken's rule);
    Hugging Face applies the merge list in order. The two agree when the merges come in
    the order of the ids of the tokens they make (a token made by several splits, as
    converters from tiktoken's files write them, has its merges side by side)."""
    made: set[bytes] = set()
    last_id = -1
    for i, merge in enumerate(merges):
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        token = _gpt2_token_bytes(left, alphabet, str(path)) + _gpt2_token_bytes(right, alphabet, str(path))
        token_id = ranks.get(token)
        if token_id is None:
            raise VocabularyError(f"{path}: merge {i} ({left!r} {right!r}) makes no token of the vocabulary")
        if token_id < last_id:
            raise VocabularyError(
                f"{path}: merge {i} ({left!r} {right!r}) makes id {token_id}, below the id {last_id} that the "
                "merge before it makes: the merges are not in id order, which jaxbpe's BPE needs"
            )
        made.add(token)
        last_id = token_id
    unmade = [t for t in ranks if len(t) > 1 and t not in made]
    if unmade and not ignore_merges:
        raise VocabularyError(
            f"{path}: {len(unmade)} tokens (e.g. {unmade[0]!r}) are made by no merge, and the model does not look "
            "whole pieces up (ignore_merges is false); jaxbpe would produce them"
        )


def _hf_added_tokens(tokens: list[dict], normalizing: bool, path) -> tuple[dict[str, int], dict[str, int]]:
    """The added tokens: (special ones, the others). Hugging Face splits both out of any
    text, first, on the raw text; jaxbpe then normalises the text between them. A token
    matched on normalised text (normalized: true) is taken only where normalising
    cannot change its matches: ASCII whitespace, or no normalizer at all."""
    special: dict[str, int] = {}
    added: dict[str, int] = {}
    for t in tokens:
        content = t["content"]
        for option in ("single_word", "lstrip", "rstrip"):
            if t.get(option):
                raise VocabularyError(
                    f"{path}: added token {content!r} has {option}=true, which jaxbpe does not support"
                )
        if normalizing and t.get("normalized") and content.strip(" \t\n\r"):
            raise VocabularyError(
                f"{path}: added token {content!r} is matched on normalised text (normalized: true), "
                "which jaxbpe does not reproduce"
            )
        (special if t.get("special") else added)[content] = t["id"]
    return special, added


def _hf_normalizer(normalizer: dict | None, path) -> str | None:
    if normalizer is None:
        return None
    steps = normalizer.get("normalizers", []) if normalizer.get("type") == "Sequence" else [normalizer]
    if [s.get("type") for s in steps] == ["NFC"]:
        return "NFC"
    raise VocabularyError(
        f"{path}: normalizer {[s.get('type') for s in steps]} is not supported (jaxbpe reproduces NFC or none)"
    )


def _hf_pattern(pre: dict | None, path) -> str:
    """The name of the native pattern that reproduces a pre-tokenizer: GPT-2's
    ByteLevel, a Split by a regex jaxbpe has (then ByteLevel without its regex), or
    StarCoder2's Digits(individual_digits) then ByteLevel."""
    from .patterns import native_family

    steps = (pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]) if pre else []
    kinds = [s.get("type") for s in steps]
    for step in steps:
        if step.get("type") == "ByteLevel" and step.get("add_prefix_space", True):
            raise VocabularyError(f"{path}: pre-tokenizer ByteLevel with add_prefix_space=true is not supported")
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "r50k"
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        split = steps[0]
        regex = split.get("pattern", {}).get("Regex")
        if split.get("behavior") != "Isolated" or split.get("invert"):
            raise VocabularyError(
                f"{path}: pre-tokenizer Split with behavior {split.get('behavior')!r} and invert "
                f"{split.get('invert')!r} is not supported (jaxbpe reproduces Isolated, not inverted)"
            )
        if regex is None or (family := native_family(regex)) is None:
            raise VocabularyError(f"{path}: pre-tokenizer Split by {regex!r}: jaxbpe has no pattern for this regex")
        return family
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "starcoder2"
    raise VocabularyError(f"{path}: pre-tokenizer {kinds or pre} is not supported (steps: {steps})")
