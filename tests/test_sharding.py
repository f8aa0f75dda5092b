"""A batch sharded over 8 (CPU) devices stays sharded through encode, pack and decode:
under automatic sharding (plain `jax.jit` of `NamedSharding` inputs), explicit
sharding and inside `jax.shard_map`, under `jax.vmap` and in `lax.scan`, on a 1-D and
a 2-D mesh; and the host-callback fallback gives the same results.

The device count must be set before JAX starts, so each check runs in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import jaxbpe

COMMON = """
import re
import jax, numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P
import jaxbpe

assert jax.device_count() == 8
enc = jaxbpe.get_encoding("cl100k_base")
table = jaxbpe.decode_table(enc)
rng = np.random.default_rng(0)
texts = ["".join(rng.choice(list("abc dé€😀\\n12"), int(rng.integers(0, 90)))) for _ in range(64)]
data, lengths = jaxbpe.to_bytes_batch(texts)
COLLECTIVES = ("all-gather", "all-reduce", "all-to-all", "collective-permute")

def step(enc, table, data, lengths):
    tokens, counts = jaxbpe.encode(enc, data, lengths, max_tokens=64)
    packed = jaxbpe.pack(tokens, counts, num_sequences=16, seq_len=32, eot_id=enc.eot_token, groups=8)
    return tokens, counts, packed, jaxbpe.decode(table, tokens, max_bytes=160)

def check(fn, args, want, batch_spec, rows_per_call, kernel='custom_call_target="jaxbpe_encode"'):
    \"\"\"fn(*args) equals want, is sharded as batch_spec says, and compiles to a program
    without collectives whose tokenizer call sees rows_per_call rows.\"\"\"
    jitted = jax.jit(fn)
    hlo = jitted.lower(*args).compile().as_text()
    got = jitted(*args)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
        assert tuple(g.sharding.spec)[: len(batch_spec)] == tuple(batch_spec), (g.sharding, batch_spec)
    collectives = [l for l in hlo.splitlines() if any(op in l for op in COLLECTIVES)]
    assert not collectives, collectives
    calls = [l for l in hlo.splitlines() if kernel in l]
    shapes = {re.search(r"s32\\[([0-9,]+)\\]", c).group(1) for c in calls}
    assert len(calls) == 1 and shapes == {rows_per_call}, (calls, rows_per_call)

def put(x, mesh, spec):
    return jax.device_put(x, NamedSharding(mesh, spec))

want = jax.jit(step)(enc, table, data, lengths)
assert np.asarray(want[0])[3, : want[1][3]].tolist() == enc.encode(texts[3])
"""

NATIVE = """
# Automatic sharding (a Mesh with default axis types), 1-D: 8 rows per device.
mesh = Mesh(np.array(jax.devices()), ("batch",))
check(step, (enc, table, put(data, mesh, P("batch")), put(lengths, mesh, P("batch"))), want, ("batch",), "8,64")

# 2-D mesh, data x model, the batch over data: 16 rows per device.
mesh2 = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
check(step, (enc, table, put(data, mesh2, P("data")), put(lengths, mesh2, P("data"))), want, ("data",), "16,64")

# vmap over a leading axis, the batch axis inside it sharded: 2 x 4 rows per device.
stacked = lambda x: x.reshape(2, 32, *x.shape[1:])
vstep = jax.vmap(step, in_axes=(None, None, 0, 0))
vwant = jax.jit(vstep)(enc, table, stacked(data), stacked(lengths))
for g, w in zip(jax.tree.leaves(vwant[:2] + (vwant[3],)), jax.tree.leaves(want[:2] + (want[3],))):
    np.testing.assert_array_equal(np.asarray(g), stacked(np.asarray(w)))
check(vstep, (enc, table, put(stacked(data), mesh, P(None, "batch")), put(stacked(lengths), mesh, P(None, "batch"))),
      vwant, (None, "batch"), "2,4,64")

# Explicit sharding: the batch's sharding is in its type.
explicit = jax.make_mesh((8,), ("batch",), axis_types=(AxisType.Explicit,))
with jax.set_mesh(explicit):
    args = (enc, table, put(data, explicit, P("batch")), put(lengths, explicit, P("batch")))
    check(step, args, want, ("batch",), "8,64")
    try:
        sharded = jax.device_put(want[0], P("batch")), jax.device_put(want[1], P("batch"))
        jax.jit(lambda t, c: jaxbpe.pack(t, c, num_sequences=8, seq_len=4, eot_id=0))(*sharded)
    except ValueError as e:
        assert "groups=1 must be a multiple of the 8 shards" in str(e), e
    else:
        raise AssertionError("pack of an 8-way sharded batch in 1 group did not raise")

# Inside shard_map (every axis manual) and in lax.scan over sharded chunks.
in_map = jax.shard_map(lambda e, d, n: jaxbpe.encode(e, d, n, max_tokens=64), mesh=mesh,
                       in_specs=(P(), P("batch"), P("batch")), out_specs=P("batch"))
check(in_map, (enc, put(data, mesh, P("batch")), put(lengths, mesh, P("batch"))), want[:2], ("batch",), "8,64")

def scanned(enc, data, lengths):
    return jax.lax.scan(lambda c, x: (c, jaxbpe.encode(enc, *x, max_tokens=64)), 0, (data, lengths))[1]
chunks = lambda x: x.reshape(8, 8, *x.shape[1:])
check(scanned, (enc, put(chunks(data), mesh, P(None, "batch")), put(chunks(lengths), mesh, P(None, "batch"))),
      [chunks(np.asarray(w)) for w in want[:2]], (None, "batch"), "1,64")
print("sharded OK")
"""

FALLBACK = """
# JAXBPE_FALLBACK=always: the CPU backend tokenizes through the host callback.
CALLBACK = 'custom_call_target="xla_ffi_python_cpu_callback"'
native = [np.asarray(x) for x in want[:2]]
rows = lambda x: x.reshape(8, 8, *x.shape[1:])
fallback = jax.jit(lambda e, d, n: jaxbpe.encode(e, d, n, max_tokens=64))
hlo = fallback.lower(enc, data, lengths).as_text()
assert "xla_ffi_python_cpu_callback" in hlo and "jaxbpe_encode" not in hlo.replace("jaxbpe_encode_on_host", "")
for g, w in zip(fallback(enc, data, lengths), native):
    np.testing.assert_array_equal(np.asarray(g), w)
vmapped = jax.jit(jax.vmap(lambda d, n: jaxbpe.encode(enc, d, n, max_tokens=64)))(rows(data), rows(lengths))
for g, w in zip(vmapped, native):
    np.testing.assert_array_equal(np.asarray(g), rows(w))

# Per device inside shard_map and under explicit sharding: 8 rows per callback.
mesh = Mesh(np.array(jax.devices()), ("batch",))
in_map = jax.shard_map(lambda e, d, n: jaxbpe.encode(e, d, n, max_tokens=64), mesh=mesh,
                       in_specs=(P(), P("batch"), P("batch")), out_specs=P("batch"))
check(in_map, (enc, put(data, mesh, P("batch")), put(lengths, mesh, P("batch"))), native, ("batch",), "8,64", CALLBACK)
explicit = jax.make_mesh((8,), ("batch",), axis_types=(AxisType.Explicit,))
with jax.set_mesh(explicit):
    check(step, (enc, table, put(data, explicit, P("batch")), put(lengths, explicit, P("batch"))), want, ("batch",),
          "8,64", CALLBACK)
# Under automatic sharding the callback takes the whole batch once, with the same ids.
auto = jax.jit(step)(enc, table, put(data, mesh, P("batch")), put(lengths, mesh, P("batch")))
for g, w in zip(jax.tree.leaves(auto), jax.tree.leaves(want)):
    np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
print("fallback OK")
"""


def run_on_8_devices(script: str, **env: str) -> str:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu", **env)
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", textwrap.dedent(COMMON + script)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_sharded_batch_is_tokenized_per_device_without_collectives():
    assert "sharded OK" in run_on_8_devices(NATIVE)


def test_the_host_callback_fallback_gives_the_same_ids_shapes_vmap_and_sharding():
    assert "fallback OK" in run_on_8_devices(FALLBACK, JAXBPE_FALLBACK="always")


def test_a_platform_without_a_native_kernel_falls_back_or_with_fallback_error_refuses(monkeypatch):
    enc = jaxbpe.get_encoding("gpt2")
    data, lengths = jaxbpe.to_bytes_batch(["hello world"])
    export = jax.export.export(jax.jit(jaxbpe.encode), platforms=["tpu"])
    monkeypatch.setenv("JAXBPE_FALLBACK", "error")
    with pytest.raises(RuntimeError, match=r"no native kernel for the 'tpu' platform.*JAXBPE_FALLBACK=error"):
        export(enc, data, lengths)


def test_the_cuda_lowering_is_the_cuda_custom_call_on_each_devices_rows():
    enc = jaxbpe.get_encoding("gpt2")
    data, lengths = jaxbpe.to_bytes_batch(["hello world", "two"])
    if "cuda" not in jaxbpe.lowering.native_platforms():
        pytest.skip("built without the CUDA extension")
    exported = jax.export.export(
        jax.jit(lambda e, d, n: jaxbpe.encode(e, d, n, max_tokens=5)),
        platforms=["cpu", "cuda"],
        disabled_checks=[jax.export.DisabledSafetyCheck.custom_call("jaxbpe_encode")],
    )(enc, data, lengths)
    calls = [line for line in exported.mlir_module().splitlines() if "stablehlo.custom_call @jaxbpe_encode" in line]
    assert len(calls) == 2  # one per platform
    assert all("tensor<2x5xi32>" in c and "pattern = 0" in c for c in calls), calls
    np.testing.assert_array_equal(exported.call(enc, data, lengths)[0][0, :2], enc.encode("hello world"))
