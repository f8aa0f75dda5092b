#!/usr/bin/env bash
# Sets jaxbpe up, lints, fetches the real vocabularies the tests compare on, and runs the
# tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/lint.sh
.venv/bin/python -m jaxbpe fetch gpt2 cl100k_base o200k_base
# -n auto: one pytest worker per core (pytest-xdist); the suite is CPU-bound.
.venv/bin/python -m pytest -q -p no:cacheprovider -n auto tests "$@"
# tiktoken's own test suite, with `import tiktoken` replaced by `import jaxbpe as tiktoken`
# (scripts/tiktoken_suite.py downloads it and checks its sha256).
.venv/bin/python scripts/tiktoken_suite.py build/tiktoken_suite
(cd build/tiktoken_suite && ../../.venv/bin/python -m pytest -q -p no:cacheprovider tests)
# The same tests against an ASan+UBSan build of the extension (about 2-3 minutes);
# JAXBPE_SKIP_SANITIZE=1 skips it.
if [ -z "${JAXBPE_SKIP_SANITIZE:-}" ]; then
  echo "--- sanitizer run (scripts/sanitize.sh) ---"
  scripts/sanitize.sh
fi
