"""Shared fixtures: jaxbpe's encodings and tiktoken built from the very same rank files."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest
import tiktoken
from hypothesis import settings

import jaxbpe

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tools")]

# Property tests: a bounded number of examples so CI stays fast (HYPOTHESIS_PROFILE=long
# searches more), and no deadline, since a first call compiles and sanitizer runs are slow.
settings.register_profile("ci", max_examples=150, deadline=None)
settings.register_profile("long", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The encodings the parity tests cover: one per pre-tokenizer family.
PARITY_ENCODINGS = ["gpt2", "cl100k_base", "o200k_base"]


@functools.lru_cache(maxsize=None)
def reference(name: str) -> tiktoken.Encoding:
    """tiktoken's encoding of the very vocabulary jaxbpe loaded (offline, hash-verified)."""
    return jaxbpe.get_encoding(name).to_tiktoken()


@pytest.fixture(params=PARITY_ENCODINGS, scope="session")
def name(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def enc(name) -> jaxbpe.Encoding:
    return jaxbpe.get_encoding(name)


@pytest.fixture(scope="session")
def ref(name) -> tiktoken.Encoding:
    return reference(name)
