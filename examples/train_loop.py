"""Train a small causal language model where each jitted step takes raw UTF-8 bytes:
tokenize (jaxbpe.encode) → pack (jaxbpe.pack) → forward → loss → Adam update.

The text is the machine's English manual pages (benchmarks/corpus.py), cut into rows
of --row-bytes bytes; the tokenizer runs on the same device as the model, inside the
step, so the host only ever ships bytes. With several devices the step is data
parallel: the rows are sharded over an explicit mesh axis and each device tokenizes,
packs and trains on its own (jaxbpe runs per shard; only gradients are reduced).

    python examples/train_loop.py --small     # CPU, well under a minute
    python examples/train_loop.py             # a larger model, for a GPU
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

ROOT = Path(__file__).resolve().parents[1]
# The corpus builder and the model; jaxbpe itself is the installed package.
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "examples")]

import corpus  # noqa: E402
import gpt  # noqa: E402
import jaxbpe  # noqa: E402

SIZES = {  # rows of raw bytes per step, their width, packed sequences, model
    "small": dict(rows=4, row_bytes=256, num_sequences=8, seq_len=64, layers=2, heads=4, width=64, steps=40),
    "full": dict(rows=64, row_bytes=2048, num_sequences=64, seq_len=512, layers=6, heads=6, width=384, steps=300),
}


def byte_rows(docs: list[str], row_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Every document cut into rows of at most row_bytes bytes (possibly mid-character:
    jaxbpe tokenizes any bytes)."""
    chunks = [d[i : i + row_bytes] for d in (doc.encode() for doc in docs) for i in range(0, len(d), row_bytes)]
    return jaxbpe.to_bytes_batch(chunks, row_len=row_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a tiny model and batch for a CPU")
    parser.add_argument("--steps", type=int, help="training steps (default: 40 small, 300 full)")
    parser.add_argument("--encoding", default="gpt2")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--log-every", type=int, default=5)
    args = parser.parse_args()
    size = dict(SIZES["small" if args.small else "full"])
    steps = args.steps or size["steps"]
    # Data parallel over all devices: each tokenizes, packs and trains on its own rows.
    devices = jax.device_count()
    size["rows"] *= devices
    size["num_sequences"] *= devices
    mesh = jax.make_mesh((devices,), ("batch",), axis_types=(AxisType.Explicit,))

    enc = jaxbpe.get_encoding(args.encoding)
    data, lengths = byte_rows(corpus.documents("english", steps * size["rows"] * size["row_bytes"]), size["row_bytes"])
    cfg = gpt.Config(enc.n_vocab, size["seq_len"], size["layers"], size["heads"], size["width"])
    params = jax.device_put(gpt.init(jax.random.key(0), cfg), NamedSharding(mesh, P()))  # replicated
    opt = gpt.adam_init(params)
    n_params = sum(x.size for x in jax.tree.leaves(params))
    print(f"{devices} {jax.devices()[0].platform} device(s): {n_params / 1e6:.1f}M parameters, {args.encoding}, "
          f"{len(data)} rows of {size['row_bytes']} bytes; per step {size['rows']} rows -> "
          f"{size['num_sequences']}x{size['seq_len']} tokens")

    @jax.jit
    def train_step(params, opt, enc, data, lengths):
        tokens, counts = jaxbpe.encode(enc, data, lengths, max_tokens=data.shape[1])
        packed = jaxbpe.pack(
            tokens,
            counts,
            num_sequences=size["num_sequences"],
            seq_len=size["seq_len"],
            eot_id=enc.eot_token,
            groups=devices,
        )
        loss, grads = jax.value_and_grad(gpt.packed_loss)(params, cfg, packed)
        params, opt = gpt.adam_update(params, grads, opt, args.lr)
        return params, opt, loss, jnp.sum(packed.segment_ids > 0), packed.dropped.sum()

    losses, tokens_seen, start = [], 0, None
    for step in range(steps):
        rows = slice(step * size["rows"] % len(data), None)
        batch = (data[rows][: size["rows"]], lengths[rows][: size["rows"]])
        if len(batch[0]) < size["rows"]:  # wrap around the corpus
            batch = (data[: size["rows"]], lengths[: size["rows"]])
        batch = jax.device_put(batch, NamedSharding(mesh, P("batch")))
        with jax.set_mesh(mesh):
            params, opt, loss, placed, dropped = train_step(params, opt, enc, *batch)
        losses.append(float(loss))
        if step == 0:
            start = time.perf_counter()  # after compilation
            print(f"step    0  loss {losses[0]:.3f}  (compiled; {int(placed)} tokens packed, {int(dropped)} dropped)")
        else:
            tokens_seen += int(placed)
        if step and (step % args.log_every == 0 or step == steps - 1):
            rate = tokens_seen / (time.perf_counter() - start)
            print(f"step {step:4d}  loss {losses[-1]:.3f}  {rate:,.0f} tokens/s (tokenize+pack+train)", flush=True)
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f} (mean of the last 5 steps {np.mean(losses[-5:]):.3f})")

    # The tokenizer's share of a step: the same encode + pack alone, on the last batch.
    tokenize_and_pack = jax.jit(
        lambda enc, data, lengths: jaxbpe.pack(
            *jaxbpe.encode(enc, data, lengths, max_tokens=data.shape[1]),
            num_sequences=size["num_sequences"],
            seq_len=size["seq_len"],
            eot_id=enc.eot_token,
            groups=devices,
        )
    )
    with jax.set_mesh(mesh):
        jax.block_until_ready(tokenize_and_pack(enc, *batch))
        start = time.perf_counter()
        for _ in range(10):
            jax.block_until_ready(tokenize_and_pack(enc, *batch))
    step_s = (time.perf_counter() - start) / 10
    print(f"tokenize + pack alone: {step_s * 1e3:.2f} ms per step ({batch[0].size / step_s / 2**20:.1f} MiB/s of rows)")


if __name__ == "__main__":
    main()
