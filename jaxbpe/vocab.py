"""Reading vocabulary files: tiktoken rank files, GPT-2's vocab.bpe + encoder.json, and
Hugging Face tokenizer.json byte-level BPE models. Each loader returns the mergeable
ranks as {token bytes: rank} and raises VocabularyError naming the file and line."""

from __future__ import annotations

import base64
import binascii
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
            raise VocabularyError(
                f"{path}:{lineno}: duplicate rank {rank} (first on line {seen_ranks[rank]})"
            )
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


def load_hf_tokenizer(path: str | os.PathLike) -> tuple[dict[bytes, int], str, dict[str, int]]:
    """A Hugging Face tokenizer.json holding a byte-level BPE model. Returns the ranks
    (the model's ids), the pre-tokenizer's regex and the added special tokens."""
    try:
        spec = json.loads(read_bytes(path))
        model = spec["model"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise VocabularyError(f"{path}: not a tokenizer.json file ({e})") from None
    if model.get("type") != "BPE":
        raise VocabularyError(f"{path}: model type {model.get('type')!r} is not BPE")
    alphabet = _gpt2_byte_alphabet()
    ranks = {_gpt2_token_bytes(tok, alphabet, str(path)): rank for tok, rank in model["vocab"].items()}
    if len(set(ranks.values())) != len(ranks):
        raise VocabularyError(f"{path}: duplicate ids in the vocabulary")
    specials = {t["content"]: t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    return ranks, _hf_pattern(spec.get("pre_tokenizer"), path), specials


def _hf_pattern(pre: dict | None, path) -> str:
    """The regex of a ByteLevel pre-tokenizer (GPT-2's) or of a Split by regex."""
    from .patterns import PATTERNS

    steps = (pre or {}).get("pretokenizers", [pre]) if pre else []
    for step in steps:
        if step.get("type") == "ByteLevel" and step.get("use_regex", True):
            return PATTERNS["r50k"]
        if step.get("type") == "Split" and "Regex" in step.get("pattern", {}):
            return step["pattern"]["Regex"]
    raise VocabularyError(f"{path}: no supported byte-level pre-tokenizer (ByteLevel or Split by regex)")
