#!/usr/bin/env bash
# Sets jaxbpe up and tokenizes a real document with it, next to tiktoken.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# -P: import the installed jaxbpe (with its compiled extension), not the source folder.
.venv/bin/python -P -m jaxbpe demo "$@"
