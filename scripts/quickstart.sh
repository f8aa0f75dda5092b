#!/usr/bin/env bash
# Sets jaxbpe up and tokenizes a real document with it, next to tiktoken.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m jaxbpe demo "$@"
