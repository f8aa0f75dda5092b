"""The examples run (small settings, as subprocesses), and the model code they share is right."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import gpt  # noqa: E402


def run_example(script: str, *args: str, **env_vars: str) -> str:
    env = dict(os.environ, **env_vars)  # the jaxbpe under test is the one this Python imports
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_train_loop_tokenizes_packs_and_the_loss_falls():
    out = run_example("train_loop.py", "--small", "--steps", "12")
    first, last = map(float, re.search(r"loss (\S+) -> (\S+)", out).groups())
    assert 10 < first < 11.5  # about ln(50257): an untrained model's loss
    assert last < first - 1.0, out
    assert re.search(r"[\d,]+ tokens/s", out), out


def test_train_loop_is_data_parallel_over_several_devices():
    out = run_example("train_loop.py", "--small", "--steps", "3", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert out.startswith("2 cpu device(s)") and "per step 8 rows -> 16x64 tokens" in out, out
    first, last = map(float, re.search(r"loss (\S+) -> (\S+)", out).groups())
    assert 10 < first < 11.5 and last < first, out


def test_long_context_inference_tokenizes_like_tiktoken_and_generates():
    out = run_example(
        "long_context_inference.py", "--small", "--size", str(1 << 18), "--generate", "16", "--chunk", "8"
    )
    assert "262,144 bytes" in out
    assert "(count and prompt tokens same as jaxbpe: True)" in out, out
    text = out.split(" generated text ")[1].split("\n", 1)[1].split("\n---")[0]
    assert text.strip(), out
    for stage in ("tokenize", "prefill", "generate"):
        assert re.search(rf"^{stage} +[\d.]+ s", out, re.MULTILINE), out


def test_generation_with_the_kv_cache_equals_the_full_forward_pass():
    cfg = gpt.Config(vocab=50, context=12, layers=2, heads=2, width=8)
    params = gpt.init(jax.random.key(1), cfg)
    tokens = jax.random.randint(jax.random.key(2), (1, 10), 0, cfg.vocab)
    positions = jnp.arange(10)[None]
    full = gpt.forward(params, cfg, tokens, positions, jnp.tril(jnp.ones((1, 10, 10), bool)))
    cache = [(jnp.zeros((1, cfg.context, cfg.heads, 4)),) * 2 for _ in range(cfg.layers)]
    prefill_mask = (jnp.arange(6)[:, None] >= jnp.arange(cfg.context))[None]
    logits, cache = gpt.forward(params, cfg, tokens[:, :6], positions[:, :6], prefill_mask, cache, 0)
    stepped = [logits[0]]
    for p in range(6, 10):
        mask = (jnp.arange(cfg.context) <= p)[None, None]
        logits, cache = gpt.forward(params, cfg, tokens[:, p : p + 1], positions[:, p : p + 1], mask, cache, p)
        stepped.append(logits[0])
    np.testing.assert_allclose(jnp.concatenate(stepped), full[0], rtol=1e-5, atol=1e-5)


def write_gpt2_checkpoint(directory: Path, cfg: gpt.Config) -> tuple[dict, Path]:
    """Random GPT-2 weights as a Hugging Face checkpoint: model.safetensors, config.json."""
    params = gpt.init(jax.random.key(0), cfg)
    tensors = {"wte.weight": params["wte"], "wpe.weight": params["wpe"], "h.0.attn.bias": jnp.ones((1, 1, 5, 5))}
    for i, block in enumerate(params["h"]):
        for path, leaf in jax.tree_util.tree_leaves_with_path(block):
            tensors[f"h.{i}." + ".".join(k.key for k in path)] = leaf
    tensors |= {f"ln_f.{k}": v for k, v in params["ln_f"].items()}
    header, body = {"__metadata__": {"format": "pt"}}, b""
    for name, t in tensors.items():
        raw = np.asarray(t, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    blob = json.dumps(header).encode()
    (directory / "model.safetensors").write_bytes(len(blob).to_bytes(8, "little") + blob + body)
    (directory / "config.json").write_text(json.dumps({"n_head": cfg.heads}))
    return params, directory / "model.safetensors"


def test_load_safetensors_reads_a_gpt2_checkpoint(tmp_path):
    cfg = gpt.Config(vocab=7, context=5, layers=2, heads=2, width=4)
    params, path = write_gpt2_checkpoint(tmp_path, cfg)
    loaded, loaded_cfg = gpt.load_safetensors(path)
    assert loaded_cfg == cfg
    assert jax.tree.structure(loaded) == jax.tree.structure(params)
    for got, want in zip(jax.tree.leaves(loaded), jax.tree.leaves(params)):
        np.testing.assert_array_equal(got, want)


def test_long_context_inference_runs_a_gpt2_checkpoint(tmp_path):
    _, path = write_gpt2_checkpoint(tmp_path, gpt.Config(vocab=50257, context=64, layers=1, heads=2, width=8))
    out = run_example(
        "long_context_inference.py", "--checkpoint", str(path), "--size", "20000", "--generate", "8", "--chunk", "8"
    )
    assert "1 layers, context 64" in out and "random weights" not in out, out
    assert "prefill 56 tokens" in out, out
