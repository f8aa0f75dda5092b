"""One `Encoding` serves many Python threads at once: the native encoder keeps its
per-call state (workspace, piece cache) per thread, so results do not depend on what
the other threads do."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np

import jaxbpe
from adversarial import random_mixture, runs

THREADS = 8


def texts_for(seed: int) -> list[str]:
    """Different texts per thread, with long runs (workspace) and repeated words (cache)."""
    rng = random.Random(seed)
    return [random_mixture(rng, rng.randrange(1, 400)) for _ in range(40)] + rng.sample(runs(), 10)


def run_together(work, n: int = THREADS) -> list:
    """Runs work(i) on n threads that start at the same moment."""
    barrier = threading.Barrier(n)

    def start(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(start, range(n)))


def test_encode_batch_from_many_threads_at_once(enc, ref):
    inputs = [texts_for(seed) for seed in range(THREADS)]
    results = run_together(lambda i: enc.encode_batch(inputs[i], num_threads=4))
    assert results == [ref.encode_ordinary_batch(texts) for texts in inputs]


def test_every_entry_point_from_many_threads_at_once(enc, ref):
    """Threads mix encode, encode_batch, decode and the jit-able encode on one Encoding."""
    inputs = [texts_for(100 + seed) for seed in range(THREADS)]
    jitted = jax.jit(jaxbpe.encode)

    def work(i):
        texts = inputs[i]
        if i % 4 == 0:
            return [enc.encode(t) for t in texts]
        if i % 4 == 1:
            return enc.encode_batch(texts, num_threads=2)
        if i % 4 == 2:
            return [enc.encode(enc.decode(enc.encode(t))) for t in texts]
        data, lengths = jaxbpe.to_bytes_batch(texts)
        tokens, counts = jitted(enc, data, lengths)
        return [row[:n].tolist() for row, n in zip(np.asarray(tokens), np.asarray(counts))]

    results = run_together(work)
    assert results == [ref.encode_ordinary_batch(texts) for texts in inputs]
