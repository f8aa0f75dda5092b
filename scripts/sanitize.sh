#!/usr/bin/env bash
# Runs the test suite against a copy of jaxbpe whose native extension is built with
# AddressSanitizer and UndefinedBehaviorSanitizer (gcc), so that any out-of-bounds
# access, use after free or undefined behaviour in the C++ core fails the run:
#
#     scripts/sanitize.sh [pytest args...]
#
# Python, numpy and jaxlib are not instrumented: libasan is preloaded so that it comes
# first, leak checking is off (the interpreter's own allocations would be reported), and
# UBSan's first finding aborts. Uses $PYTHON (default .venv/bin/python, as
# scripts/setup.sh makes it) with jax, nanobind, cmake, ninja and the test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
# Absolute (not resolving the venv's symlink): cmake runs these from its build folders.
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"
bin=$(dirname "$PYTHON")
cmake=$([ -x "$bin/cmake" ] && echo "$bin/cmake" || echo cmake)
build=build/sanitize

"$cmake" -S . -B "$build" -G Ninja -DPython_EXECUTABLE="$PYTHON" -DJAXBPE_CUDA=OFF \
  -DCMAKE_MAKE_PROGRAM="$([ -x "$bin/ninja" ] && echo "$bin/ninja" || echo ninja)" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJAXBPE_SANITIZE=address,undefined \
  -DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all >/dev/null
"$cmake" --build "$build" >"$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }

# The package's Python files next to the sanitized extension, imported ahead of any
# installed jaxbpe.
rm -rf "$build/pkg" && mkdir -p "$build/pkg/jaxbpe"
cp jaxbpe/*.py "$build/pkg/jaxbpe/"
cp "$build"/_native*.so "$build/pkg/jaxbpe/"

export PYTHONPATH="$PWD/$build/pkg" JAX_PLATFORMS=cpu
libasan=$(gcc -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "sanitize.sh: gcc has no libasan (Debian: apt-get install libasan8)" >&2; exit 1; }
export LD_PRELOAD="$libasan:$(gcc -print-file-name=libstdc++.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$PYTHON" -P -c 'import jaxbpe, sys; sys.exit(not jaxbpe._native.__file__.startswith(sys.argv[1]))' "$PWD/$build/pkg" ||
  { echo "sanitize.sh: the sanitized extension is not the one imported" >&2; exit 1; }
# The benchmark's and the examples' tests spend their time in uninstrumented code
# (other tokenizers, model training); every other test runs.
"$PYTHON" -P -m pytest -q -p no:cacheprovider tests \
  --ignore=tests/test_bench.py --ignore=tests/test_examples.py "$@"
