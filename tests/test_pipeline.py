"""The staged parallel encoder (the CUDA custom call's algorithm, xla_ffi/jaxbpe/pipeline.h)
run on the host executor, and the chunked encoder that puts one long text on several
CPU threads: both give exactly tiktoken's ids and the row encoder's, for every chunk
size from one byte up, so that every kind of seam occurs (inside a multi-byte
character, in whitespace runs with their lookahead, in digit groups and contractions,
at special tokens, inside pieces that span many chunks). Every pipeline run is repeated
with each stage's indices in a shuffled order, and all its buffers must come out the
same: a stage that read what another index of it writes would race on a GPU.
"""

from __future__ import annotations

import base64
import random

import jax
import numpy as np
import pytest
import tiktoken

import corpus
import jaxbpe
from adversarial import WHITESPACE, codepoints_by_category, random_mixture, random_unicode, runs
from jaxbpe import _native, testing
from jaxbpe.patterns import PATTERNS

PRODUCTION_CHUNK = _native.PIPELINE_CHUNK_BYTES
CHUNK_SIZES = [1, 2, 3, 5, 8, 13, 64, PRODUCTION_CHUNK, 4096]


def pipeline_rows(enc, data, lengths, *, chunk_bytes, **kwargs) -> list[list[int]]:
    """The pipeline's ids per row; the same run with shuffled stage orders must give the
    same tokens, counts, status and workspace, byte for byte."""
    run = testing.pipeline_run(enc, data, lengths, chunk_bytes=chunk_bytes, **kwargs)
    for seed in (1, 2):
        shuffled = testing.pipeline_run(enc, data, lengths, chunk_bytes=chunk_bytes, order_seed=seed, **kwargs)
        for name, a, b in zip(run._fields, run, shuffled):
            assert np.array_equal(a, b), f"{name} differs with stages in shuffled order {seed}"
    width = run.tokens.shape[1]
    return [run.tokens[i, : min(run.counts[i], width)].tolist() for i in range(len(run.counts))]


def encode_texts(enc, texts, *, chunk_bytes, row_len=None, **kwargs) -> list[list[int]]:
    data, lengths = jaxbpe.to_bytes_batch(texts, row_len=row_len)
    return pipeline_rows(enc, data, lengths, chunk_bytes=chunk_bytes, **kwargs)


def row_encoder(enc, texts, **kwargs) -> list[list[int]]:
    """The CPU custom call's row encoder, through jit."""
    data, lengths = jaxbpe.to_bytes_batch(texts)
    tokens, counts = jax.jit(lambda e, d, n: jaxbpe.encode(e, d, n, **kwargs))(enc, data, lengths)
    tokens, counts = np.asarray(tokens), np.asarray(counts)
    return [tokens[i, : counts[i]].tolist() for i in range(len(texts))]


@pytest.fixture(scope="module")
def real_rows() -> list[str]:
    """About 200 KiB of real text of each kind, in rows of up to 16 KiB."""
    rows = []
    for kind in ("english", "multilingual", "code"):
        text = "".join(corpus.documents(kind, 200 << 10))
        starts = range(0, min(len(text), 200 << 10), 12 << 10)
        rows += [text[i : i + (4 << 10) * (1 + j % 4)] for j, i in enumerate(starts)]
    return rows


@pytest.fixture(scope="module")
def adversarial_rows() -> list[str]:
    rng = random.Random(4321)
    groups = codepoints_by_category()
    texts = runs()[::3]
    texts += [random_unicode(rng, groups, rng.randrange(1, 120)) for _ in range(120)]
    texts += [random_mixture(rng, rng.randrange(1, 400)) for _ in range(120)]
    return texts


# Strings whose pieces depend on what follows or precedes them: shifted by every offset
# of a small chunk, they put a seam at each of their bytes.
SEAM_CASES = [
    "héllo wörld 中文字 🙂👍🏽 e\u0301x",
    "a  \n  b \t\u3000 c\r\n\r\n  d   ",
    "x 1234567 89 0123456789 ٣٤٥٦ 12a34",
    "don't DON'T 'S 'ſt 'll'VE we're ''x",
    "!!! ??\n\n// --> <!-- /* */ ...\r\n",
    "word" + " " * 40 + "end" + "\t" * 9 + "\n" * 5,
    "ABCdef GHIjkl ǅemal HTTPServer aBC",
] + [f"x{w}y{w}{w}z" for w in WHITESPACE]


def shifted(cases: list[str], chunk: int) -> list[str]:
    return [" " * k + c for c in cases for k in range(min(chunk, 8))]


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_seams_at_every_byte_match_tiktoken(enc, ref, chunk):
    texts = shifted(SEAM_CASES, chunk)
    assert encode_texts(enc, texts, chunk_bytes=chunk) == ref.encode_ordinary_batch(texts)


@pytest.mark.parametrize("chunk", [1, 3, 16, PRODUCTION_CHUNK])
def test_real_text_matches_tiktoken_and_the_row_encoder(enc, ref, real_rows, chunk):
    expected = ref.encode_ordinary_batch(real_rows)
    assert encode_texts(enc, real_rows, chunk_bytes=chunk) == expected
    if chunk == PRODUCTION_CHUNK:
        assert row_encoder(enc, real_rows) == expected


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, PRODUCTION_CHUNK])
def test_adversarial_text_matches_tiktoken(enc, ref, adversarial_rows, chunk):
    assert encode_texts(enc, adversarial_rows, chunk_bytes=chunk) == ref.encode_ordinary_batch(adversarial_rows)


@pytest.mark.parametrize("chunk", [1, 5, 64, PRODUCTION_CHUNK])
def test_pieces_spanning_many_chunks_match_tiktoken(enc, ref, chunk):
    rng = random.Random(7)
    texts = [ch * n for ch in ["a", " ", "\n", "1", "!", "中", "\u3000", " \t"] for n in (65, 300, 3000)]
    texts += ["".join(rng.choice("0123456789") for _ in range(2000)), base64.b64encode(rng.randbytes(3000)).decode()]
    texts += ["x" + " " * 2000 + "y", "word" * 700, "=" * 999 + "\n" * 999]
    assert encode_texts(enc, texts, chunk_bytes=chunk) == ref.encode_ordinary_batch(texts)


@pytest.mark.parametrize("chunk", [1, 2, 4, 9, PRODUCTION_CHUNK])
def test_allowed_special_tokens_match_tiktoken(enc, ref, chunk):
    specials = sorted(ref.special_tokens_set)
    first, last = specials[0], specials[-1]
    texts = [
        f"{first}",
        f"{first}{first}{last}",
        f"hi{first}there {last}\n{first}  x{last}",
        f"  {first}  \n\n{last}1234{first}'s",
        f"中文{first}字{last}🙂",
        first[:-1] + "not quite" + first[1:],
    ]
    texts = shifted(texts, chunk)
    expected = [ref.encode(t, allowed_special="all") for t in texts]
    assert encode_texts(enc, texts, chunk_bytes=chunk, allowed_special="all") == expected
    one = {first}
    expected = [ref.encode(t, allowed_special=one, disallowed_special=()) for t in texts]
    assert encode_texts(enc, texts, chunk_bytes=chunk, allowed_special=one) == expected


@pytest.mark.parametrize("chunk", [1, 2, 3, 64])
def test_overlapping_special_tokens_are_taken_leftmost_first(chunk):
    """Special tokens one of whose ends is another's beginning: find_special takes the
    leftmost match, then the leftmost after it; the pipeline resolves such clusters in
    parallel and must agree (tiktoken takes the leftmost match too)."""
    ranks = {bytes([b]): b for b in range(256)}
    specials = {"<ab>": 256, "b><c": 257, "<c>": 258}
    enc = jaxbpe.Encoding("overlap", pat_str=PATTERNS["r50k"], mergeable_ranks=ranks, special_tokens=specials)
    ref = tiktoken.Encoding("overlap", pat_str=PATTERNS["r50k"], mergeable_ranks=ranks, special_tokens=specials)
    texts = ["<ab><c>", "<ab><c><ab><c>x", "xb><c><ab>", "<ab>" * 9 + "<c>", "b><c" * 5, "<a<ab><c>b>"]
    texts = shifted(texts, chunk)
    expected = [ref.encode(t, allowed_special="all") for t in texts]
    assert [enc.encode(t, allowed_special="all") for t in texts] == expected
    assert encode_texts(enc, texts, chunk_bytes=chunk, allowed_special="all") == expected


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, PRODUCTION_CHUNK])
def test_invalid_utf8_matches_the_row_encoder_and_round_trips(enc, chunk):
    rng = np.random.default_rng(11)
    samples = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in range(1, 400, 13)]
    samples += [b"\xe4\xb8", b"a\xe4\xb8\xadb\xad\xad\xad\xad", b"\xf0\x9f\x99\x82" * 9 + b"\xf0\x9f"]
    samples += [b"\xc0\xaf \xed\xa0\x80"]
    got = encode_texts(enc, samples, chunk_bytes=chunk)
    assert got == [enc.encode_to_numpy(s).tolist() for s in samples]
    assert [enc.decode_bytes(ids) for ids in got] == samples


@pytest.mark.parametrize("chunk", [1, 4, PRODUCTION_CHUNK])
def test_empty_tiny_full_and_ragged_rows(enc, ref, chunk):
    texts = ["", "a", "", "x" * 600, "word " * 119 + "w", "", "é", "\n"] + [" z" * i for i in range(1, 40)]
    assert encode_texts(enc, texts, chunk_bytes=chunk, row_len=600) == ref.encode_ordinary_batch(texts)
    data = np.zeros((3, 0), np.uint8)
    tokens, counts = testing.pipeline_encode(enc, data, np.zeros(3, np.int32), chunk_bytes=chunk)
    assert tokens.shape == (3, 0) and counts.tolist() == [0, 0, 0]


@pytest.mark.parametrize("chunk", [1, 3, PRODUCTION_CHUNK])
def test_truncation_padding_counts_and_status_equal_the_cpu_custom_call(enc, chunk):
    texts = ["hello world, how are you?", "", "x", "a b c d e f g h"]
    data, _ = jaxbpe.to_bytes_batch(texts)
    lengths = np.array([len(texts[0]), -4, 1000, 7], np.int32)  # clamped to 0 and to all 25 bytes
    run = testing.pipeline_run(enc, data, lengths, chunk_bytes=chunk, max_tokens=3, pad_id=-9)
    with jax.default_device(jax.devices("cpu")[0]):
        expected = jax.jit(lambda e, d, n: jaxbpe.encode(e, d, n, max_tokens=3, pad_id=-9, return_status=True))(
            enc, data, lengths
        )
    for got, want in zip(run[:3], expected):
        np.testing.assert_array_equal(got, np.asarray(want))
    S = jaxbpe.EncodeStatus
    assert run.status.tolist()[:3] == [S.TRUNCATED, S.LENGTH_CLAMPED, S.LENGTH_CLAMPED | S.TRUNCATED]
    assert (run.tokens[1] == -9).all() and run.counts[1] == 0


@pytest.mark.parametrize("parts", [1, 2, 3, 7, 64, 1000])
def test_chunked_host_encoder_matches_tiktoken(enc, ref, real_rows, adversarial_rows, parts):
    """The seam resolution the host API and the CPU custom call use for long texts,
    at any number of chunks (threads=2 runs them on two threads)."""
    text = "".join(real_rows[::5]) + "".join(adversarial_rows[::7])
    assert testing.chunked_encode(enc, text, parts=parts, threads=2) == ref.encode_ordinary(text)
    for case in SEAM_CASES:
        assert testing.chunked_encode(enc, case, parts=parts) == ref.encode_ordinary(case)
    specials = f"a{sorted(ref.special_tokens_set)[0]}b " * 50
    assert testing.chunked_encode(enc, specials, parts=parts, allowed_special="all") == ref.encode(
        specials, allowed_special="all"
    )


def test_long_texts_through_the_host_api_and_jit_match_tiktoken(enc, ref):
    """Texts long enough to be split over threads (kChunkedMinBytes) by encode,
    encode_to_numpy, encode_batch with fewer texts than threads, and the CPU custom call."""
    text = "".join(doc for kind in ("multilingual", "code") for doc in corpus.documents(kind, 600 << 10))
    assert len(text.encode()) > 1 << 20
    expected = ref.encode_ordinary(text)
    assert enc.encode_ordinary(text) == expected
    assert enc.encode_to_numpy(text).tolist() == expected
    assert enc.encode_ordinary_batch([text], num_threads=2) == [expected]
    assert row_encoder(enc, [text]) == [expected]


def test_long_row_through_jit_is_truncated_and_padded_like_a_short_one(enc, ref):
    """A row the CPU custom call splits over threads, its ids and padding written by all
    of them: cut at max_tokens with the truncation bit, or padded past its ids."""
    text = "".join(corpus.documents("english", 400 << 10))
    expected = ref.encode_ordinary(text)
    data, lengths = jaxbpe.to_bytes_batch([text])
    for max_tokens in (len(expected) - 5, len(expected) + 1001):
        encode = jax.jit(jaxbpe.encode, static_argnames=("max_tokens", "pad_id", "return_status"))
        outputs = encode(enc, data, lengths, max_tokens=max_tokens, pad_id=-7, return_status=True)
        tokens, counts, status = (np.asarray(x) for x in outputs)
        kept = expected[:max_tokens]
        assert tokens[0].tolist() == kept + [-7] * (max_tokens - len(kept))
        assert counts.tolist() == [len(expected)]
        assert status.tolist() == [int(jaxbpe.EncodeStatus.TRUNCATED) if max_tokens < len(expected) else 0]


@pytest.mark.parametrize("rows, row_len", [(1, 8 << 20), (1024, 8 << 10), (4096, 4 << 10), (8, 1 << 20)])
@pytest.mark.parametrize("allowed_special", [frozenset(), "all"])
def test_device_memory_is_at_most_16_bytes_per_input_byte(enc, rows, row_len, allowed_special):
    """Workspace (by the formula the CUDA handler checks against) plus the results at
    max_tokens = L, for vocabularies in rank order (all of tiktoken's)."""
    assert jaxbpe.device_memory_bytes(enc, rows, row_len, allowed_special=allowed_special) <= 16 * rows * row_len


def test_cuda_lowering_has_the_workspace_result_and_the_tables_header(enc):
    if "cuda" not in jaxbpe.lowering.native_platforms():  # as in the sanitizer run
        pytest.skip("built without the CUDA extension")
    data, lengths = jaxbpe.to_bytes_batch(["hello", "world wide"])
    exported = jax.export.export(
        jax.jit(lambda e, d, n: jaxbpe.encode(e, d, n, max_tokens=7, allowed_special="all")),
        platforms=["cuda"],
        disabled_checks=[jax.export.DisabledSafetyCheck.custom_call("jaxbpe_encode")],
    )(enc, data, lengths)
    (call,) = [line for line in exported.mlir_module().splitlines() if "@jaxbpe_encode" in line]
    specials = enc.native_specials("all")
    workspace = _native.pipeline_workspace_bytes(2, 10, 7, PRODUCTION_CHUNK, True, False)
    assert f"tensor<{workspace}xui8>)" in call  # the fourth result
    assert f"chunk_bytes = {PRODUCTION_CHUNK} : i64" in call and "heap_merge = false" in call
    count, longest = _native.specials_header(specials)
    assert f"specials_header = dense<[{count}, {longest}]>" in call
    assert "tables_header = dense<[" in call
