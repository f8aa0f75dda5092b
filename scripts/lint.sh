#!/usr/bin/env bash
# Lints what CI lints: ruff (Python), mypy (jaxbpe's types, against extension stubs that
# must match the built extension) and clang-format (C++), with the versions of the lint
# extra (scripts/setup.sh installs it).
#
#     scripts/lint.sh                 check
#     scripts/lint.sh FILE.cc ...     check only these C++ files with clang-format
#
# Reformatting the C++:
#     .venv/bin/clang-format -i $(git ls-files '*.cc' '*.h' '*.cu')
# Regenerating the stubs after changing an extension's bindings:
#     .venv/bin/python -m nanobind.stubgen -q --exclude-values -m jaxbpe._native -o jaxbpe/_native.pyi
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin

"$bin/ruff" check --quiet .
"$bin/mypy"
for module in _native _native_cuda; do
  "$bin/python" -c "import jaxbpe.$module" 2>/dev/null || continue  # _native_cuda needs nvcc
  "$bin/python" -m nanobind.stubgen -q --exclude-values -m "jaxbpe.$module" -o "build/$module.pyi"
  diff -u "jaxbpe/$module.pyi" "build/$module.pyi" ||
    { echo "lint.sh: jaxbpe/$module.pyi is stale; regenerate it (see the top of scripts/lint.sh)" >&2; exit 1; }
done
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files '*.cc' '*.h' '*.cu')
fi
"$bin/clang-format" --dry-run --Werror "${files[@]}"
echo "lint: ruff, mypy, stubs and clang-format (${#files[@]} C++ files) pass"
