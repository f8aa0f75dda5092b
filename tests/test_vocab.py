"""Vocabulary files load from every supported format and fail loudly when damaged."""

from __future__ import annotations

import gzip
import json

import pytest

import jaxbpe
from jaxbpe import registry
from jaxbpe.vocab import VocabularyError

R50K = registry.known_encoding("r50k_base").ranks


@pytest.fixture(scope="module")
def r50k_bytes() -> bytes:
    return registry.rank_file_bytes(R50K)


def test_from_tiktoken_file_equals_get_encoding(tmp_path, r50k_bytes):
    path = tmp_path / "r50k.tiktoken.gz"
    path.write_bytes(gzip.compress(r50k_bytes))
    enc = jaxbpe.Encoding.from_tiktoken_file(path, pattern="r50k", special_tokens={"<|endoftext|>": 50256})
    text = "The from_tiktoken_file loader, gzipped. 123 don't"
    assert enc.encode(text) == jaxbpe.get_encoding("r50k_base").encode(text)


def test_pattern_may_be_given_as_its_exact_regex(tmp_path, r50k_bytes):
    path = tmp_path / "r50k.tiktoken"
    path.write_bytes(r50k_bytes)
    enc = jaxbpe.Encoding.from_tiktoken_file(path, pattern=jaxbpe.patterns.PATTERNS["r50k"])
    assert enc.pattern == "r50k"


def test_another_pattern_is_split_on_the_host(tmp_path, r50k_bytes):
    path = tmp_path / "r50k.tiktoken"
    path.write_bytes(r50k_bytes)
    enc = jaxbpe.Encoding.from_tiktoken_file(path, pattern=r"\w+|\s+")
    assert enc.pattern is None and enc._pat_str == r"\w+|\s+"


def test_invalid_pattern_is_an_error(tmp_path, r50k_bytes):
    path = tmp_path / "r50k.tiktoken"
    path.write_bytes(r50k_bytes)
    with pytest.raises(ValueError, match=r"invalid pattern '\(unclosed'"):
        jaxbpe.Encoding.from_tiktoken_file(path, pattern=r"(unclosed")


def test_missing_file_is_an_error(tmp_path):
    for error in (VocabularyError, FileNotFoundError):  # FileNotFoundError: tiktoken's
        with pytest.raises(error, match="not found"):
            jaxbpe.Encoding.from_tiktoken_file(tmp_path / "nope.tiktoken", pattern="r50k")


def test_malformed_line_is_reported_with_its_line_number(tmp_path, r50k_bytes):
    lines = r50k_bytes.splitlines()
    lines[41] = b"!!!not-base64 41"
    path = tmp_path / "bad.tiktoken"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(VocabularyError, match=r"bad.tiktoken:42: malformed line"):
        jaxbpe.Encoding.from_tiktoken_file(path, pattern="r50k")


def test_duplicate_rank_is_an_error(tmp_path, r50k_bytes):
    lines = r50k_bytes.splitlines()
    lines[300] = lines[300].split()[0] + b" 7"
    path = tmp_path / "dup.tiktoken"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(VocabularyError, match=r"dup.tiktoken:301: duplicate rank 7 \(first on line 8\)"):
        jaxbpe.Encoding.from_tiktoken_file(path, pattern="r50k")


def test_truncated_known_file_fails_its_hash(tmp_path, r50k_bytes, monkeypatch):
    (tmp_path / R50K.filename).write_bytes(r50k_bytes[: len(r50k_bytes) // 2])
    monkeypatch.setenv("JAXBPE_VOCAB_DIR", str(tmp_path))
    with pytest.raises(VocabularyError, match="does not match the expected"):
        registry.rank_file_bytes(R50K, fetch=False)


R50K_PATTERN = jaxbpe.patterns.PATTERNS["r50k"]


def test_vocabulary_without_every_byte_is_rejected():
    ranks = {bytes([b]): b for b in range(255)} | {b"ab": 255}
    with pytest.raises(VocabularyError, match="no token for byte 255"):
        jaxbpe.Encoding("partial", pat_str=R50K_PATTERN, mergeable_ranks=ranks, special_tokens={})


def write_gpt2_files(tmp_path, ranks: dict[bytes, int]):
    """Writes ranks as GPT-2's vocab.bpe + encoder.json: each merge is any split of the
    token into two tokens, in rank order."""
    from jaxbpe.vocab import _gpt2_byte_alphabet

    to_char = {b: ch for ch, b in _gpt2_byte_alphabet().items()}
    show = lambda bs: "".join(to_char[b] for b in bs)  # noqa: E731
    merges = []
    for token, _ in sorted(ranks.items(), key=lambda kv: kv[1])[256:]:
        split = next(i for i in range(1, len(token)) if token[:i] in ranks and token[i:] in ranks)
        merges.append(f"{show(token[:split])} {show(token[split:])}")
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    encoder = {show(t): r for t, r in ranks.items()} | {"<|endoftext|>": 50256}
    (tmp_path / "encoder.json").write_text(json.dumps(encoder), encoding="utf-8")
    return tmp_path / "vocab.bpe", tmp_path / "encoder.json"


def test_gpt2_release_files_load_to_the_same_encoding(tmp_path, r50k_bytes):
    vocab_bpe, encoder_json = write_gpt2_files(tmp_path, jaxbpe.parse_tiktoken_bpe(r50k_bytes))
    enc = jaxbpe.Encoding.from_gpt2_files(vocab_bpe, encoder_json)
    text = "GPT-2's vocab.bpe and encoder.json, 2019."
    assert enc.encode(text) == jaxbpe.get_encoding("gpt2").encode(text)


def test_gpt2_encoder_json_disagreeing_with_merges_is_an_error(tmp_path, r50k_bytes):
    vocab_bpe, encoder_json = write_gpt2_files(tmp_path, jaxbpe.parse_tiktoken_bpe(r50k_bytes))
    encoder = json.loads(encoder_json.read_text(encoding="utf-8"))
    encoder["the"], encoder["and"] = encoder["and"], encoder["the"]
    encoder_json.write_text(json.dumps(encoder), encoding="utf-8")
    with pytest.raises(VocabularyError, match="does not agree with the merges"):
        jaxbpe.Encoding.from_gpt2_files(vocab_bpe, encoder_json)


def test_hf_tokenizer_json_whose_tokens_no_merge_makes_is_an_error(tmp_path, r50k_bytes):
    """Hugging Face's BPE builds tokens only with the merges the file lists: with none,
    it encodes byte by byte, where jaxbpe (tiktoken's rule) would merge into GPT-2's
    tokens. Such a file is refused, not encoded differently (files that list their
    merges: tests/test_models.py, against `tokenizers`)."""
    from jaxbpe.vocab import _gpt2_byte_alphabet

    to_char = {b: ch for ch, b in _gpt2_byte_alphabet().items()}
    ranks = jaxbpe.parse_tiktoken_bpe(r50k_bytes)
    spec = {
        "model": {"type": "BPE", "vocab": {"".join(to_char[b] for b in t): r for t, r in ranks.items()}, "merges": []},
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "special": True}],
    }
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(VocabularyError, match="50000 tokens .* are made by no merge"):
        jaxbpe.Encoding.from_hf_tokenizer_json(path)


def test_hf_tokenizer_json_with_unsupported_model_is_an_error(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"model": {"type": "WordPiece", "vocab": {}}}), encoding="utf-8")
    with pytest.raises(VocabularyError, match="is not BPE"):
        jaxbpe.Encoding.from_hf_tokenizer_json(path)


def test_wrong_expected_hash_is_an_error(tmp_path, r50k_bytes):
    path = tmp_path / "r50k.tiktoken"
    path.write_bytes(r50k_bytes)
    with pytest.raises(VocabularyError, match=f"r50k.tiktoken: sha256 {R50K.sha256} does not match the expected 0000"):
        jaxbpe.Encoding.from_tiktoken_file(path, pattern="r50k", expected_hash="0" * 64)


def test_truncated_gzip_file_is_an_error(tmp_path, r50k_bytes):
    path = tmp_path / "r50k.tiktoken.gz"
    path.write_bytes(gzip.compress(r50k_bytes)[:1000])
    with pytest.raises(VocabularyError, match="r50k.tiktoken.gz: not a valid gzip file"):
        jaxbpe.Encoding.from_tiktoken_file(path, pattern="r50k")


def test_known_file_absent_without_fetching_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXBPE_VOCAB_DIR", str(tmp_path))
    monkeypatch.setenv("JAXBPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    with pytest.raises(VocabularyError, match=r"r50k_base.tiktoken not found .*python -m jaxbpe fetch"):
        registry.rank_file_bytes(R50K, fetch=False)


@pytest.mark.parametrize(
    "line, message",
    [
        (b"YWI= 1 2", r"bad.tiktoken:3: expected 'base64-token rank', got b'YWI= 1 2'"),
        (b"YWI= x", r"bad.tiktoken:3: malformed line b'YWI= x'"),
        (b"YWI= -4", r"bad.tiktoken:3: negative rank -4"),
        (b"YQ== 7", r"bad.tiktoken:3: duplicate token b'a'"),
    ],
)
def test_each_kind_of_bad_line_is_reported_with_its_line_number(tmp_path, line, message):
    path = tmp_path / "bad.tiktoken"
    path.write_bytes(b"YQ== 0\nYg== 1\n" + line + b"\n")
    with pytest.raises(VocabularyError, match=message):
        jaxbpe.Encoding.from_tiktoken_file(path, pattern="r50k")


def test_duplicate_rank_in_a_rank_dictionary_is_named():
    ranks = {bytes([b]): b for b in range(256)} | {b"ab": 3}
    with pytest.raises(VocabularyError, match=r"rank 3 is given to both b'\\x03' and b'ab'"):
        jaxbpe.Encoding("dup", pat_str=R50K_PATTERN, mergeable_ranks=ranks, special_tokens={})


def test_empty_vocabulary_is_rejected():
    with pytest.raises(VocabularyError, match="empty: no tokens"):
        jaxbpe.Encoding("empty", pat_str=R50K_PATTERN, mergeable_ranks={}, special_tokens={})


def test_empty_token_is_rejected():
    ranks = {bytes([b]): b for b in range(256)} | {b"": 256}
    with pytest.raises(VocabularyError, match=r"the empty token \(rank 256\)"):
        jaxbpe.Encoding("empty token", pat_str=R50K_PATTERN, mergeable_ranks=ranks, special_tokens={})


def test_negative_rank_and_bad_types_are_rejected():
    ranks = {bytes([b]): b for b in range(256)}
    with pytest.raises(VocabularyError, match="negative rank -1"):
        jaxbpe.Encoding("neg", pat_str=R50K_PATTERN, mergeable_ranks=ranks | {b"ab": -1}, special_tokens={})
    with pytest.raises(TypeError, match=r"maps bytes to int, got 'ab': 256"):
        jaxbpe.Encoding("str", pat_str=R50K_PATTERN, mergeable_ranks=ranks | {"ab": 256}, special_tokens={})
    with pytest.raises(VocabularyError, match=r"special token '<\|x\|>' has id -3"):
        jaxbpe.Encoding("neg", pat_str=R50K_PATTERN, mergeable_ranks=ranks, special_tokens={"<|x|>": -3})
