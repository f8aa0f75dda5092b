"""Encodings (and decode tables) pickle and copy cheaply, and work in process pools: a
known encoding travels as its name, another as its tokens' bytes and lengths."""

from __future__ import annotations

import concurrent.futures
import copy
import multiprocessing
import pickle
import warnings

import jax
import numpy as np
import pytest

import jaxbpe
from conftest import reference

TEXTS = [f"document {i}: the quick brown fox <|endoftext|> {'x' * i}" for i in range(40)]


def custom_encoding() -> jaxbpe.Encoding:
    """cl100k_base's ranks with other special tokens and a gap: an encoding no registry knows."""
    base = jaxbpe.get_encoding("cl100k_base")
    ranks = {t: r for t, r in base._mergeable_ranks.items() if r != 1000}
    specials = {"<|pickle|>": 100_300}
    return jaxbpe.Encoding("custom", pat_str=base._pat_str, mergeable_ranks=ranks, special_tokens=specials)


def encode_all(enc: jaxbpe.Encoding, texts: list[str]) -> list[list[int]]:
    return enc.encode_batch(texts, allowed_special="all")


def test_a_known_encoding_pickles_as_its_name():
    enc = jaxbpe.get_encoding("o200k_harmony")
    data = pickle.dumps(enc)
    assert len(data) < 100
    back = pickle.loads(data)
    assert back.encode("hi <|call|>", allowed_special="all") == enc.encode("hi <|call|>", allowed_special="all")
    assert pickle.dumps(back) == data  # still known: re-pickled by name


def test_another_encoding_pickles_its_tokens_not_its_tables():
    enc = custom_encoding()
    data = pickle.dumps(enc)
    token_bytes = sum(map(len, enc._mergeable_ranks))
    assert len(data) < token_bytes + 2 * enc.n_vocab + 1000 < len(enc.host_tables) / 2
    back = pickle.loads(data)
    text = "<|pickle|> a gap at rank 1000 " + enc.decode([999, 1001])
    assert back.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert back._mergeable_ranks == enc._mergeable_ranks and back._special_tokens == enc._special_tokens
    with pytest.raises(KeyError):
        back.decode([1000])


def test_host_pattern_encoding_pickles():
    base = jaxbpe.get_encoding("gpt2")
    enc = jaxbpe.Encoding("words", pat_str=r"\w+|\s+|.", mergeable_ranks=base._mergeable_ranks, special_tokens={})
    back = pickle.loads(pickle.dumps(enc))
    assert back.pattern is None and back.encode("hello, world") == enc.encode("hello, world")


def test_copies_share_the_tables_and_behave_the_same():
    enc = custom_encoding()
    for dup in (copy.copy(enc), copy.deepcopy(enc)):
        assert dup is not enc and dup.host_tables.ctypes.data == enc.host_tables.ctypes.data
        assert encode_all(dup, TEXTS) == encode_all(enc, TEXTS)
        dup._special_tokens["<|mutated|>"] = 1
        assert "<|mutated|>" not in enc._special_tokens
    assert copy.deepcopy(jaxbpe.get_encoding("gpt2")).encode("hi") == [5303]


def test_decode_tables_pickle_and_copy():
    table = jaxbpe.decode_table(jaxbpe.get_encoding("gpt2"))
    ids = jax.numpy.array([[31373, 995]], jax.numpy.int32)
    for dup in (pickle.loads(pickle.dumps(table)), copy.deepcopy(table)):
        out = jaxbpe.decode(dup, ids, max_bytes=16)
        assert bytes(np.asarray(out.bytes[0, : int(out.lengths[0])])) == b"hello world"


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_pools_get_the_same_ids(method):
    known, custom = jaxbpe.get_encoding("cl100k_base"), custom_encoding()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # jax's note that fork and threads mix badly
        with multiprocessing.get_context(method).Pool(2) as pool:
            results = pool.starmap(encode_all, [(known, TEXTS[:20]), (custom, TEXTS[20:])])
    assert results == [encode_all(known, TEXTS[:20]), encode_all(custom, TEXTS[20:])]
    assert results[0] == reference("cl100k_base").encode_batch(TEXTS[:20], allowed_special="all")


def test_process_pool_executor_gets_the_same_ids():
    enc = jaxbpe.get_encoding("cl100k_base")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with concurrent.futures.ProcessPoolExecutor(2) as pool:  # the platform's default start method
            results = list(pool.map(encode_all, [enc] * 2, [TEXTS[:10], TEXTS[10:]]))
    assert results == [encode_all(enc, TEXTS[:10]), encode_all(enc, TEXTS[10:])]
