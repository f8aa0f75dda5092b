"""An interpreter that used jaxbpe exits without nanobind reporting leaked instances.

Python does not free every object at exit: a module's globals outlive the module while
any of its functions is referenced, so encodings held by jaxbpe's registry, or by a
closure that hypothesis keeps (tiktoken's own test_offsets makes one), were still alive
when nanobind checked at the very end, and it reported each HostEncoder as leaked. The
test session below reproduces both."""

from __future__ import annotations

import subprocess
import sys
import textwrap

TESTS = textwrap.dedent(
    '''
    import copy, pickle
    import jax
    from hypothesis import given, settings, strategies as st
    import jaxbpe

    def test_every_encoding_and_its_copies():
        encodings = [jaxbpe.get_encoding(name) for name in jaxbpe.list_encoding_names()]
        enc = jaxbpe.get_encoding("cl100k_base")
        jax.jit(jaxbpe.encode)(enc, *jaxbpe.to_bytes_batch(["hello world"]))
        jaxbpe.decode(jaxbpe.decode_table(enc), jax.numpy.zeros((1, 2), jax.numpy.int32), max_bytes=4)
        assert copy.deepcopy(enc).encode("a") == pickle.loads(pickle.dumps(enc)).encode("a")

    @given(data=st.data())
    @settings(max_examples=20)
    def test_a_closure_over_an_encoding(data):
        enc = jaxbpe.get_encoding("gpt2")
        ids = data.draw(st.lists(st.integers(0, 300).filter(lambda i: i in enc._mergeable_ranks.values())))
        enc.decode(ids)
    '''
)


def test_no_leak_report_at_exit(tmp_path):
    (tmp_path / "test_session.py").write_text(TESTS)
    result = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert "nanobind" not in result.stderr, result.stderr[-3000:]
