"""tiktoken's vocabulary rules, on small vocabularies made here and on p50k_base: gaps in
the ranks, several special-token names for one id, special ids and texts that are also
an ordinary token's, explicit_n_vocab. Everything is compared with tiktoken itself."""

from __future__ import annotations

import random

import jax
import numpy as np
import pytest
import tiktoken

import jaxbpe
from jaxbpe.patterns import PATTERNS
from jaxbpe.vocab import VocabularyError

BYTES = {bytes([b]): b for b in range(256)}
R50K_FILE = jaxbpe.registry.rank_file_bytes(jaxbpe.registry.R50K)
# Ranks 257, 259, 261, 263..299 and 301..399 are no token; 258 and 400 are special ids
# (258 in a gap, two names for each), 3 is an ordinary byte's rank and "ab" an ordinary
# token's text.
GAPPED = BYTES | {b"ab": 256, b"abab": 260, b"cd": 262, b"  ": 300}
SPECIALS = {"<|a|>": 258, "<|first|>": 400, "<|second|>": 400, "<|byte|>": 3, "ab": 299, "<|b|>": 258}


# An id with several names decodes as its first name. tiktoken decodes it as the name its
# hash map happens to keep: for o200k_harmony's 200018 also the first (<|endofprompt|>),
# here the last, for 258 ("<|b|>"). Only these ids are compared with the first name.
SHARED = {258: b"<|a|>", 400: b"<|first|>"}


def expected_bytes(ref, token: int) -> bytes:
    return SHARED.get(token) or ref.decode_single_token_bytes(token)


def pair():
    args = dict(pat_str=PATTERNS["r50k"], mergeable_ranks=GAPPED, special_tokens=SPECIALS)
    return jaxbpe.Encoding("gapped", **args), tiktoken.Encoding("gapped", **args)


def test_gaps_and_shared_special_ids_encode_and_decode_like_tiktoken():
    enc, ref = pair()
    assert (enc.n_vocab, enc.max_token_value) == (ref.n_vocab, ref.max_token_value) == (401, 400)
    rng = random.Random(3)
    pieces = ["ab", "cd", "  ", " ", "a", "<|a|>", "<|b|>", "<|first|>", "<|second|>", "<|byte|>", "x", "\n"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 30))) for _ in range(300)]
    for text in texts:
        for allowed in [set(), "all", {"<|second|>", "ab"}]:
            ids = ref.encode(text, allowed_special=allowed, disallowed_special=())
            assert enc.encode(text, allowed_special=allowed, disallowed_special=()) == ids, text
            assert enc.decode_bytes(ids) == b"".join(expected_bytes(ref, i) for i in ids)
    for token in range(enc.n_vocab):
        try:
            expected = expected_bytes(ref, token)
        except KeyError:
            with pytest.raises(KeyError):
                enc.decode_single_token_bytes(token)
            continue
        assert enc.decode_single_token_bytes(token) == expected, token
    assert enc.decode([400, 258]) == "<|first|><|a|>"  # an id decodes as its first name


def test_gaps_and_shared_special_ids_inside_jit_and_in_the_decode_table():
    enc, ref = pair()
    text = "ab<|second|>  cd <|a|><|b|>ab<|byte|>"
    tokens, counts = jax.jit(jaxbpe.encode, static_argnames="allowed_special")(
        enc, *jaxbpe.to_bytes_batch([text]), allowed_special="all"
    )
    ids = np.asarray(tokens)[0, : int(counts[0])].tolist()
    assert ids == ref.encode(text, allowed_special="all")
    table = jaxbpe.decode_table(enc)
    every_id = np.arange(enc.n_vocab, dtype=np.int32)[:, None]
    out = jaxbpe.decode(table, every_id, max_bytes=16)
    for token in range(enc.n_vocab):
        try:
            expected = expected_bytes(ref, token)
        except KeyError:
            assert bool(out.invalid[token]), token
            continue
        assert bytes(np.asarray(out.bytes[token, : int(out.lengths[token])])) == expected, token


def test_explicit_n_vocab_is_checked_like_tiktoken():
    args = dict(pat_str=PATTERNS["r50k"], mergeable_ranks=BYTES | {b"ab": 256}, special_tokens={"<|x|>": 257})
    assert jaxbpe.Encoding("exact", explicit_n_vocab=258, **args).n_vocab == 258
    for wrong in (257, 259):
        with pytest.raises(AssertionError):
            tiktoken.Encoding("wrong", explicit_n_vocab=wrong, **args)
        with pytest.raises(AssertionError, match=f"explicit_n_vocab={wrong}, but there are 257 ranks and 1 special"):
            jaxbpe.Encoding("wrong", explicit_n_vocab=wrong, **args)
        with pytest.raises(VocabularyError):
            jaxbpe.Encoding("wrong", explicit_n_vocab=wrong, **args)


def test_p50k_base_skips_rank_50256_like_tiktoken():
    enc = jaxbpe.get_encoding("p50k_base")
    assert 50256 not in enc._mergeable_ranks.values() and enc.n_vocab == 50281
    assert enc.decode([50256]) == "<|endoftext|>"
    text = "def f():\n" + "".join(" " * n + f"x{n}\n" for n in range(30))
    assert enc.encode(text) == enc.to_tiktoken().encode(text)
    assert jaxbpe.get_encoding("p50k_edit").encode("<|fim_middle|>", allowed_special="all") == [50282]


def test_p50k_base_is_built_from_r50k_base_and_hash_checked(tmp_path, monkeypatch):
    from jaxbpe import registry

    monkeypatch.setenv("JAXBPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # neither cache has p50k's file
    monkeypatch.setenv("JAXBPE_VOCAB_DIR", str(tmp_path / "none"))
    (tmp_path / registry.R50K.filename).write_bytes(R50K_FILE)
    data = registry.rank_file_bytes(registry.P50K, fetch=False)
    assert (tmp_path / registry.P50K.filename).read_bytes() == data  # cached
    assert jaxbpe.load.check_hash(data, registry.P50K.sha256)
    assert data.startswith(R50K_FILE) and data.count(b"\n") == R50K_FILE.count(b"\n") + 24
