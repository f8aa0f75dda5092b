#!/usr/bin/env bash
# Runs the test suite with another jax, e.g. the oldest supported one:
#
#     scripts/test_jax.sh 0.8.3 [pytest args...]
#
# Makes build/jax-VERSION/venv with that jax and jaxlib, builds jaxbpe against their FFI
# headers and installs it there (not editable: .venv's editable install stays as it
# is), and runs the tests but the benchmark's and the examples' from a folder outside
# the checkout (so that the checkout's jaxbpe/ is not imported instead). About 2 minutes
# to build and 4 to test on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/test_jax.sh JAX_VERSION [pytest args...]}
shift
root=$PWD
build=$root/build/jax-$version
[ -x "$build/venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$build/venv"
"$build/venv/bin/python" -m pip install -q --disable-pip-version-check \
  "jax==$version" "jaxlib==$version" "nanobind>=2.4" "scikit-build-core>=0.10" ninja cmake numpy \
  pytest hypothesis "tiktoken>=0.9"
"$build/venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
  --force-reinstall . -Cbuild-dir="$build/{wheel_tag}" -Ccmake.define.JAXBPE_CUDA=OFF
cd "$build"
"$build/venv/bin/python" -m pytest -q -p no:cacheprovider --rootdir "$root" "$root/tests" \
  --ignore="$root/tests/test_bench.py" --ignore="$root/tests/test_examples.py" \
  --ignore="$root/tests/test_package.py" "$@"
