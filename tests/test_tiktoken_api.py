"""`import jaxbpe as tiktoken` is tiktoken 0.14: every public name of its modules, with
its signatures, return types, errors and behaviour, compared with tiktoken itself."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest
import tiktoken
import tiktoken.load
import tiktoken.model
import tiktoken.registry
from hypothesis import given
from hypothesis import strategies as st

import jaxbpe
from conftest import reference

TEXTS = ["hello world", "hello fanta", "hello ", "today\n \n", "  !", "don'", "12345 678", "a\r\n", " ",
         "请考试我的软件！", "நடிகர் சூர்யா", " Ġ除", "x <|endoftext|>", "<|endoftext|>", "", "\u00a0\u00a0x  \t"]


@pytest.mark.parametrize(
    "theirs, ours",
    [(tiktoken, jaxbpe), (tiktoken.load, jaxbpe.load), (tiktoken.model, jaxbpe.model),
     (tiktoken.registry, jaxbpe.registry), (tiktoken.Encoding, jaxbpe.Encoding)],
    ids=["tiktoken", "load", "model", "registry", "Encoding"],
)
def test_every_public_name_of_tiktoken_is_there_with_its_signature(theirs, ours):
    names = {n for n in vars(theirs) if not n.startswith("__") and not isinstance(getattr(theirs, n), types.ModuleType)}
    names -= {"annotations", "TYPE_CHECKING", "functools", "ThreadPoolExecutor", "tiktoken_ext", "importlib",
              "pkgutil", "threading", "Any", "Callable", "Sequence", "AbstractSet", "Collection", "Literal",
              "NoReturn", "base64", "hashlib", "os", "_tiktoken", "_lock", "_find_constructors",
              "_available_plugin_modules"}
    assert sorted(names - set(dir(ours))) == []
    for name in names:
        mine, theirs_ = getattr(ours, name), getattr(theirs, name)
        if inspect.isfunction(theirs_):
            expected = [(p.name, p.kind, p.default) for p in inspect.signature(theirs_).parameters.values()]
            got = [(p.name, p.kind, p.default) for p in inspect.signature(mine).parameters.values()]
            assert got[: len(expected)] == expected, name
            extra = list(inspect.signature(mine).parameters.values())[len(expected):]
            assert all(p.default is not inspect.Parameter.empty for p in extra), name


def test_encoding_names_and_the_model_table_are_tiktokens():
    assert jaxbpe.list_encoding_names() == tiktoken.list_encoding_names()
    assert jaxbpe.model.MODEL_TO_ENCODING == tiktoken.model.MODEL_TO_ENCODING
    assert jaxbpe.model.MODEL_PREFIX_TO_ENCODING == tiktoken.model.MODEL_PREFIX_TO_ENCODING
    for model in [*tiktoken.model.MODEL_TO_ENCODING, "gpt-4o-2024-05-13", "gpt-oss-120b", "ft:gpt-4o:x"]:
        assert jaxbpe.encoding_name_for_model(model) == tiktoken.encoding_name_for_model(model)
    assert jaxbpe.encoding_for_model("gpt-4o") is jaxbpe.get_encoding("o200k_base")
    with pytest.raises(KeyError, match="Could not automatically map gpt-17 to a tokeniser"):
        jaxbpe.encoding_for_model("gpt-17")


@pytest.mark.parametrize("name", tiktoken.list_encoding_names())
def test_every_encodings_vocabulary_is_tiktokens(name):
    enc, ref = jaxbpe.get_encoding(name), reference(name)
    assert (enc.name, enc.n_vocab, enc.max_token_value) == (ref.name, ref.n_vocab, ref.max_token_value)
    assert enc._pat_str == ref._pat_str
    assert list(enc._special_tokens.items()) == list(ref._special_tokens.items())
    assert enc.special_tokens_set == ref.special_tokens_set and enc.eot_token == ref.eot_token
    assert enc._mergeable_ranks == ref._mergeable_ranks
    assert enc.token_byte_values() == ref.token_byte_values()
    for token in [*ref._special_tokens.values(), 0, 1000, ref.max_token_value]:
        assert enc.is_special_token(token) == ref.is_special_token(token)
        assert enc.decode_single_token_bytes(token) == ref.decode_single_token_bytes(token)
    assert enc.decode(sorted(ref._special_tokens.values())) == ref.decode(sorted(ref._special_tokens.values()))


def test_every_id_decodes_and_encodes_back_as_in_tiktoken(enc, ref):
    for token in range(0, enc.n_vocab, 3):
        try:
            expected = ref.decode_single_token_bytes(token)
        except KeyError:
            with pytest.raises(KeyError, match=f"'{token}'"):
                enc.decode_single_token_bytes(token)
            continue
        assert enc.decode_single_token_bytes(token) == expected
        assert enc.encode_single_token(expected) == ref.encode_single_token(expected) == token
    with pytest.raises(KeyError, match=r"b'qqqqqqqq\\xff'"):
        enc.encode_single_token(b"qqqqqqqq\xff")
    assert enc.encode_single_token("<|endoftext|>") == ref.encode_single_token("<|endoftext|>")


def test_encode_with_unstable_gives_tiktokens_tokens_and_completions(enc, ref):
    for text in TEXTS:
        for allowed in [set(), "all"]:
            tokens, completions = enc.encode_with_unstable(text, allowed_special=allowed, disallowed_special=())
            ref_tokens, ref_completions = ref.encode_with_unstable(text, allowed_special=allowed, disallowed_special=())
            assert tokens == ref_tokens, text
            assert sorted(map(tuple, completions)) == sorted(map(tuple, ref_completions)), text
            assert all(type(c) is list for c in completions)
    with pytest.raises(ValueError, match="disallowed special token"):
        enc.encode_with_unstable("<|endoftext|>")


def test_encode_bytes_of_invalid_utf8_is_tiktokens(enc, ref):
    cases = [b" \xec\x8b\xa4\xed", b"hello \x80 world, and a longer tail of text", b"\xff", b"abc  \n\n\xe4",
             b"\x80" * 5, b"12345\xc3", "日本語".encode()[:-1], b"  \t\t\xf0\x9f", b""]
    for data in cases:
        assert enc._encode_bytes(data) == ref._encode_bytes(data), data
        assert enc.decode_bytes(enc._encode_bytes(data)) == data


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base", "gpt2"])
@given(data=st.binary(max_size=60) | st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")[:-1]))
def test_encode_bytes_is_tiktokens_on_any_bytes(name, data):
    assert jaxbpe.get_encoding(name)._encode_bytes(data) == reference(name)._encode_bytes(data)


def test_encode_to_numpy_is_uint32_and_checks_special_tokens_like_tiktoken(enc, ref):
    text = "numpy <|endoftext|> ids"
    ids = enc.encode_to_numpy(text, allowed_special="all")
    assert ids.dtype == np.uint32 and ids.tolist() == ref.encode_to_numpy(text, allowed_special="all").tolist()
    assert enc.encode_to_numpy(text, disallowed_special=()).tolist() == ref.encode(text, disallowed_special=())
    with pytest.raises(ValueError, match="disallowed special token '<\\|endoftext\\|>'"):
        enc.encode_to_numpy(text)
    with pytest.raises(ValueError, match="disallowed special token"):
        enc.encode_to_numpy(text.encode())


def test_decoding_apis_are_tiktokens(enc, ref):
    batch = [ref.encode(t, allowed_special="all") for t in TEXTS]
    assert enc.decode_batch(batch) == ref.decode_batch(batch)
    assert enc.decode_bytes_batch(batch) == ref.decode_bytes_batch(batch)
    for ids in batch:
        assert enc.decode_with_offsets(ids) == ref.decode_with_offsets(ids)
        assert enc.decode_tokens_bytes(ids) == ref.decode_tokens_bytes(ids)
    assert enc.decode(np.array(batch[0], np.uint32)) == ref.decode(batch[0])
    lead_byte = [ref.encode_single_token(b"\xf0")]
    for decoder in (enc, ref):
        with pytest.raises(UnicodeDecodeError):
            decoder.decode_with_offsets(lead_byte)


def test_single_piece_and_python_split_encodings_are_tiktokens(enc, ref):
    for text in [t for t in TEXTS if t] + ["helloqqqq", "  leading and trailing  ", "a" * 300]:
        assert enc._encode_single_piece(text) == ref._encode_single_piece(text)
        assert enc._encode_single_piece(text.encode()) == ref._encode_single_piece(text.encode())
        assert enc._encode_only_native_bpe(text) == ref._encode_only_native_bpe(text)
    assert enc._encode_single_piece("") == []  # tiktoken panics on an empty piece


def test_load_reads_writes_and_checks_rank_files_like_tiktoken(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken would cache copies of local files
    ranks = jaxbpe.get_encoding("r50k_base")._mergeable_ranks
    path = str(tmp_path / "r50k.tiktoken")
    jaxbpe.load.dump_tiktoken_bpe(ranks, path)
    assert jaxbpe.load.load_tiktoken_bpe(path) == tiktoken.load.load_tiktoken_bpe(path) == ranks
    data = jaxbpe.load.read_file(path)
    sha = jaxbpe.registry.R50K.sha256
    assert jaxbpe.load.check_hash(data, sha) and not jaxbpe.load.check_hash(data, "0" * 64)
    assert jaxbpe.load.read_file_cached(path, sha) == data
    with pytest.raises(ValueError, match="does not match the expected 0000"):
        jaxbpe.load.load_tiktoken_bpe(path, "0" * 64)


def test_data_gym_files_load_like_tiktoken(tmp_path, monkeypatch):
    from test_vocab import write_gpt2_files

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    vocab_bpe, encoder_json = map(str, write_gpt2_files(tmp_path, jaxbpe.get_encoding("r50k_base")._mergeable_ranks))
    ours = jaxbpe.load.data_gym_to_mergeable_bpe_ranks(vocab_bpe, encoder_json)
    assert ours == tiktoken.load.data_gym_to_mergeable_bpe_ranks(vocab_bpe, encoder_json)


# What scripts/sanitize.sh sets, which a child Python with an environment of its own needs.
SANITIZER_ENV = {k: v for k, v in os.environ.items() if k in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}


def test_tiktoken_plugins_are_found_and_duplicates_refused(tmp_path):
    plugins = tmp_path / "tiktoken_ext"
    plugins.mkdir()
    (plugins / "jaxbpe_test_plugin.py").write_text(textwrap.dedent('''
        import jaxbpe
        def tiny():
            gpt2 = jaxbpe.get_encoding("gpt2")
            return {"name": "tiny", "pat_str": gpt2._pat_str, "mergeable_ranks": gpt2._mergeable_ranks,
                    "special_tokens": {"<|tiny|>": 60000}}
        ENCODING_CONSTRUCTORS = {"tiny": tiny}
    '''))
    program = ("import jaxbpe; print(jaxbpe.list_encoding_names()[-1]); "
               "print(jaxbpe.get_encoding('tiny').encode('hi <|tiny|>', allowed_special='all'))")
    run = lambda: subprocess.run([sys.executable, "-P", "-c", program], capture_output=True, text=True,  # noqa: E731
                                 env=SANITIZER_ENV | {"PYTHONPATH": str(tmp_path), "PATH": ""}, timeout=120)
    out = run()
    assert out.stdout.split("\n")[:2] == ["tiny", "[5303, 220, 60000]"], out.stderr
    (plugins / "jaxbpe_test_clash.py").write_text("ENCODING_CONSTRUCTORS = {'gpt2': None}\n")
    out = run()
    assert "Duplicate encoding name gpt2 in tiktoken plugin tiktoken_ext.jaxbpe_test_clash" in out.stderr
