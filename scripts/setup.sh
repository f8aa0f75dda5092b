#!/usr/bin/env bash
# Creates .venv and installs jaxbpe into it, editable: the checkout's jaxbpe/ folder is
# the installed package (Python changes take effect at once; after C++ changes, run
# this again to rebuild the extension, which scikit-build-core's import hook finds in
# .venv wherever Python runs, the checkout's root included). The CUDA extension is
# built too when nvcc is found.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# Build requirements first, then build without isolation: one jax download, not two.
# The venv gets the oldest jax jaxbpe supports, so that the tests run against it and
# the extension is built with its FFI headers (pyproject.toml: build-system).
.venv/bin/python -m pip install -q --disable-pip-version-check \
  "jax>=0.10,<0.11" "nanobind>=2.4" "scikit-build-core>=0.10" ninja cmake numpy
.venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation \
  -e ".[${JAXBPE_EXTRAS:-test,lint}]"
