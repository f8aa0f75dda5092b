"""A small GPT-2-style causal transformer and Adam in plain JAX, for the examples.

Parameter names follow GPT-2's checkpoints (wte, wpe, h.{i}.attn.c_attn, ...), so
`load_safetensors` can read a GPT-2 `model.safetensors` into the same structure.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Config(NamedTuple):
    vocab: int
    context: int  # positions the model has embeddings for
    layers: int
    heads: int
    width: int


def init(key, cfg: Config) -> dict:
    """GPT-2's initialization: normal(0.02), residual projections scaled by depth."""
    d, std = cfg.width, 0.02
    keys = iter(jax.random.split(key, 2 + 4 * cfg.layers))
    normal = lambda shape, scale=std: scale * jax.random.normal(next(keys), shape, jnp.float32)  # noqa: E731
    residual = std / math.sqrt(2 * cfg.layers)
    ln = lambda: {"weight": jnp.ones(d), "bias": jnp.zeros(d)}  # noqa: E731
    linear = lambda n_in, n_out, scale=std: {"weight": normal((n_in, n_out), scale), "bias": jnp.zeros(n_out)}  # noqa: E731
    blocks = [
        {
            "ln_1": ln(),
            "attn": {"c_attn": linear(d, 3 * d), "c_proj": linear(d, d, residual)},
            "ln_2": ln(),
            "mlp": {"c_fc": linear(d, 4 * d), "c_proj": linear(4 * d, d, residual)},
        }
        for _ in range(cfg.layers)
    ]
    return {"wte": normal((cfg.vocab, d)), "wpe": normal((cfg.context, d), 0.01), "h": blocks, "ln_f": ln()}


def _layer_norm(p, x):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["weight"] + p["bias"]


def _linear(p, x):
    return x @ p["weight"] + p["bias"]


def _gelu(x):
    return 0.5 * x * (1 + jnp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _heads(x, n):
    return x.reshape(*x.shape[:-1], n, x.shape[-1] // n)


def forward(params, cfg: Config, tokens, positions, mask, cache=None, cache_index=None):
    """Logits float32[B, T, vocab] for tokens int32[B, T].

    mask: bool[B, T, S], which of the S keys each query sees (S = T without a cache,
    S = the cache's length with one). With cache (a list per layer of (k, v), each
    float32[B, S, heads, head_width]) this step's keys and values are written at
    cache_index first; the updated cache is returned with the logits.
    """
    x = params["wte"][tokens] + params["wpe"][positions]
    new_cache = []
    for i, block in enumerate(params["h"]):
        q, k, v = jnp.split(_linear(block["attn"]["c_attn"], _layer_norm(block["ln_1"], x)), 3, axis=-1)
        q, k, v = (_heads(t, cfg.heads) for t in (q, k, v))
        if cache is not None:
            k = jax.lax.dynamic_update_slice_in_dim(cache[i][0], k, cache_index, axis=1)
            v = jax.lax.dynamic_update_slice_in_dim(cache[i][1], v, cache_index, axis=1)
            new_cache.append((k, v))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
        scores = jnp.where(mask[:, None], scores, -1e9)
        attended = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, axis=-1), v)
        x = x + _linear(block["attn"]["c_proj"], attended.reshape(x.shape))
        x = x + _linear(block["mlp"]["c_proj"], _gelu(_linear(block["mlp"]["c_fc"], _layer_norm(block["ln_2"], x))))
    logits = _layer_norm(params["ln_f"], x) @ params["wte"].T  # tied embeddings, as GPT-2
    return logits if cache is None else (logits, new_cache)


def packed_loss(params, cfg: Config, packed):
    """Mean next-token cross-entropy over `jaxbpe.pack`'s sequences: attention stays
    within a segment, and only the loss mask's targets count."""
    same_segment = packed.segment_ids[:, :, None] == packed.segment_ids[:, None, :]
    causal = jnp.tril(jnp.ones((packed.tokens.shape[1],) * 2, bool))
    mask = same_segment & causal & (packed.segment_ids[:, :, None] > 0)
    logits = forward(params, cfg, packed.tokens, packed.positions, mask)
    log_probs = jax.nn.log_softmax(logits[:, :-1])
    target = jnp.take_along_axis(log_probs, packed.tokens[:, 1:, None], axis=-1)[..., 0]
    weight = packed.loss_mask[:, :-1].astype(jnp.float32)
    return -(target * weight).sum() / jnp.maximum(weight.sum(), 1)


class Adam(NamedTuple):
    step: jax.Array
    mu: dict
    nu: dict


def adam_init(params) -> Adam:
    zeros = jax.tree.map(jnp.zeros_like, params)
    return Adam(jnp.zeros((), jnp.int32), zeros, zeros)


def adam_update(params, grads, state: Adam, lr, b1=0.9, b2=0.95, eps=1e-8):
    step = state.step + 1
    mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, grads)
    scale = lr * jnp.sqrt(1 - b2**step) / (1 - b1**step)
    params = jax.tree.map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + eps), params, mu, nu)
    return params, Adam(step, mu, nu)


# -- GPT-2 checkpoints ----------------------------------------------------------------

_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file: an 8-byte little-endian header size, a JSON
    header {name: {dtype, shape, data_offsets}}, then the raw little-endian data."""
    raw = Path(path).read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    body = memoryview(raw)[8 + size :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        if info["dtype"] == "BF16":  # bfloat16 is the top half of a float32
            bits = np.frombuffer(body[start:end], "<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif info["dtype"] in _DTYPES:
            array = np.frombuffer(body[start:end], np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<"))
        else:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        tensors[name] = array.astype(np.float32).reshape(info["shape"])
    return tensors


def load_safetensors(path: Path, heads: int = 12) -> tuple[dict, Config]:
    """A GPT-2 checkpoint (Hugging Face `model.safetensors` of gpt2, gpt2-medium, ...)."""
    tensors = {name.removeprefix("transformer."): t for name, t in read_safetensors(path).items()}
    layers = 1 + max(int(name.split(".")[1]) for name in tensors if name.startswith("h."))

    def tree(prefix):
        out = {}
        for name, t in tensors.items():
            if name.startswith(prefix) and not name.endswith(".attn.bias") and not name.endswith(".masked_bias"):
                node = out
                *path, leaf = name[len(prefix) :].split(".")
                for part in path:
                    node = node.setdefault(part, {})
                node[leaf] = jnp.asarray(t)
        return out

    params = {
        "wte": jnp.asarray(tensors["wte.weight"]),
        "wpe": jnp.asarray(tensors["wpe.weight"]),
        "h": [tree(f"h.{i}.") for i in range(layers)],
        "ln_f": tree("ln_f."),
    }
    vocab, width = tensors["wte.weight"].shape
    return params, Config(vocab, tensors["wpe.weight"].shape[0], layers, heads, width)
