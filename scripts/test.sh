#!/usr/bin/env bash
# Sets jaxbpe up, fetches the real vocabularies the tests compare on, and runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m jaxbpe fetch gpt2 cl100k_base o200k_base
# From the tests directory, so that `import jaxbpe` finds the installed package.
.venv/bin/python -m pytest -q -p no:cacheprovider --rootdir=. tests "$@"
