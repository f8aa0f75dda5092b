#!/usr/bin/env bash
# The GPU check, as one command on a GPU machine that reaches no network (the device
# tool's H100/H200, whose image has CUDA, jax with its CUDA plugin, nanobind,
# scikit-build-core, cmake, ninja, pytest and tiktoken):
#
#     scripts/gpu_check.sh LOGDIR
#
# It needs the folder scripts/prepare_gpu_check.sh makes here (.gpu_check, carried
# along): the vocabularies, the corpus and the benchmark's wheels. Steps, each with a
# time limit, its full log in LOGDIR/STEP.log (and the benchmark's report in
# LOGDIR/gpu_bench.md):
#   build      jaxbpe editable into that machine's Python, the CUDA extension for sm_90
#   tests      tests/test_gpu.py (GPU ids = tiktoken's = the CPU backend's) and
#              tests/test_jax.py with the GPU as JAX's default device
#   memcheck   compute-sanitizer memcheck on the small GPU tests, every allocation its
#   racecheck  own (XLA's platform allocator), and racecheck on the same
#   bench      benchmarks/gpu_bench.py
#   stages     one encode per encoding under Nsight Compute: time per stage (kernel)
# A short summary table comes last. Exit status: 0 when every step passed.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=${1:?usage: scripts/gpu_check.sh LOGDIR}
prepared=${JAXBPE_GPU_CHECK_DIR:-$PWD/.gpu_check}
PYTHON=${PYTHON:-python3}
mkdir -p "$logs"
[ -d "$prepared/vocab" ] || { echo "gpu_check.sh: no $prepared; run scripts/prepare_gpu_check.sh first" >&2; exit 2; }
export JAXBPE_VOCAB_DIR=$prepared/vocab JAXBPE_CORPUS_DIR=$prepared/corpus PYTHONUNBUFFERED=1
JAXBPE_CACHE_DIR=$(mktemp -d)  # so that nothing is looked for, or fetched, anywhere else
export JAXBPE_CACHE_DIR

summary=()
failed=0
# The device tool runs one command for at most 10 minutes: every step ends by then.
deadline=$((SECONDS + ${JAXBPE_GPU_CHECK_SECONDS:-540}))
# step NAME SECONDS COMMAND...: runs COMMAND into LOGDIR/NAME.log, with a time limit
# (cut to what is left before the deadline).
step() {
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  ((limit > deadline - SECONDS)) && limit=$((deadline - SECONDS))
  if ((limit < 10)); then
    summary+=("$(printf '| %-9s | %-8s | %4d s | %s |' "$name" skipped 0 "no time left")")
    failed=1
    return 1
  fi
  echo "--- $name (at most $limit s): $*" >&2
  timeout "$limit" "$@" >"$logs/$name.log" 2>&1
  rc=$?
  [ $rc = 0 ] || failed=1
  summary+=("$(printf '| %-9s | %-8s | %4d s | %s |' "$name" "$([ $rc = 0 ] && echo ok || echo "FAIL $rc")" \
    $((SECONDS - start)) "$(grep -v '^\s*$' "$logs/$name.log" | tail -n 1 | cut -c1-100)")")
  return $rc
}

sanitize() {  # sanitize TOOL: one compute-sanitizer tool on the small GPU tests
  XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_ALLOCATOR=platform \
    compute-sanitizer --tool "$1" --error-exitcode 1 --print-limit 20 --kernel-name kns=jaxbpe \
    "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_gpu.py -k "ragged or status or invalid"
}

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nvcc --version | tail -n 2
  "$PYTHON" -c 'import sys, jax; print("python", sys.version.split()[0], "jax", jax.__version__, jax.devices())'
} >"$logs/machine.log" 2>&1

# The benchmark's other tokenizers, as wheels for this Python.
site=$(mktemp -d)
"$PYTHON" -m pip install -q --no-index --no-deps --target "$site" "$prepared"/wheels/*.whl >"$logs/wheels.log" 2>&1 &&
  export PYTHONPATH=$site

if step build 300 "$PYTHON" -m pip install -v --no-index --no-deps --no-build-isolation -e . \
  -Cbuild-dir=build/gpu_check -Ccmake.define.CMAKE_CUDA_ARCHITECTURES=90 &&
  step import 60 "$PYTHON" -c 'import jax, jaxbpe._native_cuda; print("GPU:", jax.devices("gpu"))'; then
  step tests 240 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_jax.py
  step memcheck 150 sanitize memcheck
  step racecheck 150 sanitize racecheck
  step bench 300 "$PYTHON" benchmarks/gpu_bench.py --out "$logs/gpu_bench.md"
  if command -v ncu >/dev/null; then
    step stages 150 ncu --clock-control none --kernel-name regex:'ForEach|Scan' --metrics gpu__time_duration.sum \
      --csv --log-file "$logs/stages.csv" "$PYTHON" benchmarks/gpu_bench.py --stages &&
      "$PYTHON" benchmarks/gpu_bench.py --stages-from "$logs/stages.csv" --out "$logs/gpu_bench.md" >/dev/null
  fi
fi

echo
cat "$logs/machine.log"
[ -f "$logs/gpu_bench.md" ] && cat "$logs/gpu_bench.md"
echo
echo "| step      | result   |   time | last line of its log |"
echo "|---|---|--:|---|"
printf '%s\n' "${summary[@]}"
exit $failed
