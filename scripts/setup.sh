#!/usr/bin/env bash
# Creates .venv and installs jaxbpe into it (the CUDA extension too when nvcc is found).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# Build requirements first, then build without isolation: one jax download, not two.
.venv/bin/python -m pip install -q --disable-pip-version-check \
  "jax>=0.10,<0.11" "nanobind>=2.4" "scikit-build-core>=0.10" ninja cmake numpy
.venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation ".[${JAXBPE_EXTRAS:-test}]"
