"""jaxbpe behaves like an installed package: importable from the checkout's root (the
editable install makes the source folder the package), with its version and types."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import jaxbpe
from conftest import ROOT


def test_python_started_in_the_checkout_root_imports_jaxbpe_with_its_extension():
    code = "import jaxbpe; print(jaxbpe.__file__); print(jaxbpe.get_encoding('gpt2').encode('hi there'))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [str(ROOT / "jaxbpe" / "__init__.py"), "[5303, 612]"]


def test_version_is_the_distributions_and_the_package_is_typed():
    assert jaxbpe.__version__ == importlib.metadata.version("jaxbpe")
    assert (ROOT / "jaxbpe" / "py.typed").exists()
