#!/usr/bin/env bash
# Fuzzes jaxbpe's native core for one encoding with libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer (see fuzz/fuzz_core.cc), for a bounded time:
#
#     scripts/fuzz.sh ENCODING SECONDS [libFuzzer flags...]
#
# Needs clang with libFuzzer (Debian/Ubuntu: apt-get install clang libclang-rt-14-dev;
# installed here when missing and we are root) and a Python with jaxbpe importable
# ($PYTHON, default .venv/bin/python as scripts/setup.sh makes it) to dump the tables;
# that jaxbpe must be built from these sources (the harness refuses a tables blob of
# another version).
# The corpus grows in build/fuzz/corpus/ENCODING; crashes land in build/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
encoding=${1:?usage: scripts/fuzz.sh ENCODING SECONDS [libFuzzer flags...]}
seconds=${2:?usage: scripts/fuzz.sh ENCODING SECONDS [libFuzzer flags...]}
shift 2
PYTHON=${PYTHON:-.venv/bin/python}
CXX=${FUZZ_CXX:-clang++}

if ! command -v "$CXX" >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev
  else
    echo "fuzz.sh: $CXX not found; install clang with libFuzzer (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
  fi
fi

out=build/fuzz
mkdir -p "$out/corpus/$encoding"
"$PYTHON" fuzz/dump_tables.py "$encoding" "$out/tables/$encoding"
# -O1 keeps the sanitizers fast enough; UBSan findings abort like ASan's.
# The instrumented build takes minutes (the pipeline's stages are many templates): it is
# redone only when a source is newer than the binary.
if [ ! -x "$out/fuzz_core" ] || [ -n "$(find fuzz/fuzz_core.cc xla_ffi/jaxbpe -newer "$out/fuzz_core")" ]; then
  "$CXX" -std=c++17 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Ixla_ffi fuzz/fuzz_core.cc xla_ffi/jaxbpe/host.cc -o "$out/fuzz_core"
fi

export JAXBPE_FUZZ_DIR="$out/tables/$encoding"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The reference merge is quadratic: inputs stay at 2 KiB, and an input that takes
# more than 30 s is reported as a hang.
"$out/fuzz_core" -max_total_time="$seconds" -max_len=2049 -timeout=30 -print_final_stats=1 \
  -artifact_prefix="$out/$encoding-" "$@" "$out/corpus/$encoding" fuzz/seeds
