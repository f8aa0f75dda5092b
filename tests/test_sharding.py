"""A batch sharded over 8 (CPU) devices stays sharded through encode and pack.

The device count must be set before JAX starts, so each check runs in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    from jax.sharding import AxisType, PartitionSpec as P
    import jaxbpe

    assert jax.device_count() == 8
    enc = jaxbpe.get_encoding("cl100k_base")
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list("abc dé€😀\\n12"), int(rng.integers(0, 90)))) for _ in range(32)]
    data, lengths = jaxbpe.to_bytes_batch(texts)

    def step(enc, data, lengths):
        tokens, counts = jaxbpe.encode(enc, data, lengths, max_tokens=64)
        packed = jaxbpe.pack(tokens, counts, num_sequences=16, seq_len=32, eot_id=enc.eot_token, groups=8)
        return tokens, counts, packed

    unsharded = jax.jit(step)(enc, data, lengths)
    mesh = jax.make_mesh((8,), ("batch",), axis_types=(AxisType.Explicit,))
    with jax.set_mesh(mesh):
        sharded_args = (enc, jax.device_put(data, P("batch")), jax.device_put(lengths, P("batch")))
        sharded = jax.jit(step)(*sharded_args)
        hlo = jax.jit(step).lower(*sharded_args).compile().as_text()

    for got, want in zip(jax.tree.leaves(sharded), jax.tree.leaves(unsharded)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        assert got.sharding.spec[0] == "batch", got.sharding
        assert len(got.addressable_shards) == 8 and got.addressable_shards[0].data.shape[0] == got.shape[0] // 8
    assert np.asarray(unsharded[0]).tolist()[3][: unsharded[1][3]] == enc.encode(texts[3])
    collectives = [line for line in hlo.splitlines()
                   if any(op in line for op in ("all-gather", "all-reduce", "all-to-all", "collective-permute"))]
    assert not collectives, collectives
    calls = [line for line in hlo.splitlines() if 'custom_call_target="jaxbpe_encode"' in line]
    assert len(calls) == 1 and "u8[4," in calls[0], calls  # each device tokenizes its 32 / 8 rows
    with jax.set_mesh(mesh):
        try:
            jax.jit(lambda t, c: jaxbpe.pack(t, c, num_sequences=8, seq_len=4, eot_id=0))(*sharded[:2])
        except ValueError as e:
            assert "groups=1 must be a multiple of the 8 shards" in str(e), e
        else:
            raise AssertionError("pack of an 8-way sharded batch in 1 group did not raise")
    print("sharded OK")
    """
)


def test_sharded_batch_stays_sharded_and_equals_unsharded():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    # -P: import the installed jaxbpe, not the source folder in the working directory.
    result = subprocess.run([sys.executable, "-P", "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sharded OK" in result.stdout
