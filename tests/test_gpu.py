"""The CUDA custom call gives the same ids as tiktoken and as the CPU backend. Skipped
where JAX sees no GPU."""

from __future__ import annotations

import functools
import random

import jax
import numpy as np
import pytest

import corpus
import jaxbpe
from adversarial import random_mixture, runs


def _has_gpu() -> bool:
    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:  # no GPU backend at all
        return False


pytestmark = pytest.mark.skipif(not _has_gpu(), reason="no GPU visible to JAX")


def rows_on(platform, enc, texts, row_len=None, **encode_kwargs):
    """Each text's ids from jit(jaxbpe.encode) on the first device of `platform`."""
    data, lengths = jaxbpe.to_bytes_batch(texts, row_len=row_len)
    device = jax.devices(platform)[0]
    encode = jax.jit(functools.partial(jaxbpe.encode, **encode_kwargs))
    with jax.default_device(device):
        tokens, counts = encode(enc, jax.device_put(data, device), jax.device_put(lengths, device))
    tokens, counts = np.asarray(tokens), np.asarray(counts)
    return [tokens[i, : counts[i]].tolist() for i in range(len(texts))]


def gpu_rows(enc, texts, row_len=None, **encode_kwargs):
    return rows_on("gpu", enc, texts, row_len, **encode_kwargs)


def cpu_rows(enc, texts, row_len=None, **encode_kwargs):
    return rows_on("cpu", enc, texts, row_len, **encode_kwargs)


def test_gpu_matches_tiktoken_and_cpu_on_real_text(enc, ref):
    docs = [d[: 64 << 10] for kind in ("english", "multilingual", "code") for d in corpus.documents(kind, 1 << 20)]
    expected = ref.encode_ordinary_batch(docs)
    assert gpu_rows(enc, docs) == expected
    assert cpu_rows(enc, docs) == expected


def test_gpu_matches_tiktoken_on_adversarial_text(enc, ref):
    rng = random.Random(99)
    texts = runs() + [random_mixture(rng, rng.randrange(1, 400)) for _ in range(2000)]
    assert gpu_rows(enc, texts) == ref.encode_ordinary_batch(texts)


def test_gpu_batches_with_empty_tiny_full_and_ragged_rows(enc, ref):
    texts = ["", "a", "", "x" * 4096, "word " * 819 + "w", "", "é"] + [" z" * i for i in range(1, 300)]
    assert gpu_rows(enc, texts, row_len=4096) == ref.encode_ordinary_batch(texts)


def test_gpu_invalid_utf8_round_trips(enc):
    rng = np.random.default_rng(3)
    samples = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in range(1, 500, 7)]
    for sample, ids in zip(samples, gpu_rows(enc, samples)):
        assert enc.decode_bytes(ids) == sample


def test_gpu_status_and_clamping_equal_the_cpu(enc):
    data, _ = jaxbpe.to_bytes_batch(["abc def ghi", "xyz", "ok", ""])
    lengths = np.array([-3, 1000, 2, 0], dtype=np.int32)
    encode = jax.jit(lambda e, d, n: jaxbpe.encode(e, d, n, max_tokens=2, return_status=True))
    results = []
    for device in (jax.devices("gpu")[0], jax.devices("cpu")[0]):
        with jax.default_device(device):
            out = encode(enc, jax.device_put(data, device), jax.device_put(lengths, device))
        results.append([np.asarray(x).tolist() for x in out])
    assert results[0] == results[1]
    status = results[0][2]
    S = jaxbpe.EncodeStatus
    assert status[0] == S.LENGTH_CLAMPED and status[1] & S.LENGTH_CLAMPED and status[3] == S.OK


def test_gpu_one_long_document_of_real_text(enc, ref):
    """A row spanning thousands of chunks: seams everywhere, on the device."""
    text = "".join(corpus.text(kind, 1 << 20) for kind in ("english", "multilingual", "code"))
    assert gpu_rows(enc, [text]) == [ref.encode_ordinary(text)]


LONG_PIECES = ["a" * (1 << 20), "7" * 300_000, " " * 200_000, "\t \n" * 100_000, "x" + "é" * 200_000]


@pytest.mark.parametrize("text", LONG_PIECES)
def test_gpu_long_pieces(enc, ref, text):
    assert gpu_rows(enc, [text, "short", text[:1000]]) == ref.encode_ordinary_batch([text, "short", text[:1000]])


def test_gpu_allowed_special_truncation_and_padding_equal_the_cpu(enc, ref):
    eot = "<|endoftext|>"
    texts = [f"a{eot}b", f"{eot}{eot}", "no special here " * 50, "", eot]
    kwargs = dict(allowed_special={eot}, max_tokens=9, pad_id=7)
    data, lengths = jaxbpe.to_bytes_batch(texts)
    results = []
    for platform in ("gpu", "cpu"):
        device = jax.devices(platform)[0]
        with jax.default_device(device):
            out = jax.jit(functools.partial(jaxbpe.encode, return_status=True, **kwargs))(
                enc, jax.device_put(data, device), jax.device_put(lengths, device)
            )
        results.append([np.asarray(x).tolist() for x in out])
    assert results[0] == results[1]
    tokens, counts, _ = results[0]
    for row, count, text in zip(tokens, counts, texts):
        expected = ref.encode(text, allowed_special={eot})
        kept = min(count, 9)
        assert count == len(expected) and row[:kept] == expected[:kept] and row[kept:] == [7] * (9 - kept)


def test_gpu_a_batch_of_many_ragged_rows(enc, ref):
    rng = random.Random(5)
    text = corpus.text("multilingual", 1 << 20)
    texts = [text[(i := rng.randrange(len(text) - 9000)) : i + rng.randrange(0, 8192)] for _ in range(1024)]
    assert gpu_rows(enc, texts) == ref.encode_ordinary_batch(texts)
