#!/usr/bin/env bash
# Runs the test suite against a copy of jaxbpe whose native extension is built with
# AddressSanitizer and UndefinedBehaviorSanitizer (gcc), so that any out-of-bounds
# access, use after free or undefined behaviour in the C++ core fails the run:
#
#     scripts/sanitize.sh [pytest args...]
#
# The sanitized build is an editable install of this checkout into a venv of its own,
# build/sanitize/venv, which sees the packages of $VENV (default .venv, as
# scripts/setup.sh makes it: jax, nanobind, cmake, ninja, the test extras) but not its
# jaxbpe. Python, numpy and jaxlib are not instrumented: libasan is preloaded so that it
# comes first, leak checking is off (the interpreter's own allocations would be
# reported), and UBSan's first finding aborts. It is compiled at -O1 with line tables
# (-g1), which is what the reports' stack traces need: at RelWithDebInfo's -O2 -g its
# three largest sources took 511 s of CPU to compile, most of CI's sanitizer step.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
build=build/sanitize
venv=$build/venv

[ -x "$venv/bin/python" ] || "$VENV/bin/python" -m venv --without-pip "$venv"
site() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
# A path line in a .pth file puts that folder on sys.path without running the .pth
# files in it, so $VENV's editable jaxbpe (an import hook started by one) stays out.
site "$VENV/bin/python" >"$(site "$venv/bin/python")/_jaxbpe_sanitize_packages.pth"
"$VENV/bin/python" -m pip --python "$venv/bin/python" install -q --disable-pip-version-check \
  --no-build-isolation --no-deps -e . \
  -Cbuild-dir="$build/{wheel_tag}" -Ccmake.build-type=RelWithDebInfo \
  -Ccmake.define.JAXBPE_CUDA=OFF -Ccmake.define.JAXBPE_SANITIZE=address,undefined \
  -Ccmake.define.CMAKE_CXX_FLAGS=-fno-sanitize-recover=all \
  "-Ccmake.define.CMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
  >"$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }

export JAX_PLATFORMS=cpu
libasan=$(gcc -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "sanitize.sh: gcc has no libasan (Debian: apt-get install libasan8)" >&2; exit 1; }
export LD_PRELOAD="$libasan:$(gcc -print-file-name=libstdc++.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$venv/bin/python" -c 'import jaxbpe, sys; sys.exit(not jaxbpe._native.__file__.startswith(sys.argv[1]))' \
  "$(site "$venv/bin/python")" ||
  { echo "sanitize.sh: the sanitized extension is not the one imported" >&2; exit 1; }
# The benchmark's and the examples' tests spend their time in uninstrumented code
# (other tokenizers, model training); every other test runs, one worker per core.
"$venv/bin/python" -m pytest -q -p no:cacheprovider -n auto tests \
  --ignore=tests/test_bench.py --ignore=tests/test_examples.py "$@"
