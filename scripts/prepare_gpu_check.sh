#!/usr/bin/env bash
# Prepares, on this machine, everything scripts/gpu_check.sh needs on a GPU machine that
# reaches no network, in one ignored folder that the device tool carries:
#
#     scripts/prepare_gpu_check.sh [FOLDER]        (default .gpu_check)
#
#   FOLDER/vocab/    the rank files of gpt2, cl100k_base and o200k_base (sha256-checked
#                    by jaxbpe when loaded: JAXBPE_VOCAB_DIR)
#   FOLDER/corpus/   8 MiB of each corpus kind (benchmarks/corpus.py --out:
#                    JAXBPE_CORPUS_DIR), since that machine has no manual pages
#   FOLDER/wheels/   gigatoken and quicktok for CPython 3.12 on x86-64, for the benchmark
# About 45 MiB in all, under the device tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-.gpu_check}
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$folder/vocab" "$folder/corpus" "$folder/wheels"
"$PYTHON" - "$folder/vocab" <<'PY'
import sys
from pathlib import Path

import jaxbpe

for name in ("gpt2", "cl100k_base", "o200k_base"):
    ranks = jaxbpe.known_encoding(name).ranks
    (Path(sys.argv[1]) / ranks.filename).write_bytes(jaxbpe.rank_file_bytes(ranks))
PY
"$PYTHON" benchmarks/corpus.py --out "$folder/corpus" --size $((8 << 20)) >/dev/null
# The GPU machine's image has typer, numpy and fsspec; gigatoken's other needs come along.
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$folder/wheels" gigatoken==0.10.0 quicktok-v1==0.4.0 awkward==2.14.0 awkward-cpp==57 2>&1 |
  grep -v "^WARNING: Location" || true
du -sh "$folder"
