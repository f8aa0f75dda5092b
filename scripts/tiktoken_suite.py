"""Prepares tiktoken's own test suite to run against jaxbpe:

    python scripts/tiktoken_suite.py DIR      # then: pytest DIR/tests

Downloads the pinned tiktoken sdist with pip (it ships tests/), checks its sha256, and
writes its tests into DIR/tests with each `import tiktoken` replaced by
`import jaxbpe as tiktoken` (also inside the programs a test runs in a subprocess).
Nothing else is changed: no assertion, no skip. The tests are not fetched again when
DIR/tests is already there; the conftest.py below is written every time.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.14.0"
SDIST = f"tiktoken-{VERSION}.tar.gz"
SHA256 = "231dec90efcdccf1b565a1416107736f1e09b1a08fe736ef9d6363e626d03874"


# Hypothesis draws some of its inputs from the string constants of the code under test
# when that code is local, outside site-packages. tiktoken's suite runs against an
# installed tiktoken, whose constants it never sees; jaxbpe runs from its checkout, so
# its special tokens' text reached `st.text()` inputs, which the suite encodes with
# special tokens disallowed (test_hyp_roundtrip failed on "<|endofprompt|>"). Counting
# jaxbpe's folder as installed gives the suite the inputs it was written for.
CONFTEST = """\
# Written by scripts/tiktoken_suite.py, which says why.
from pathlib import Path

import jaxbpe
from hypothesis.internal import scrutineer

scrutineer.SITE_PACKAGES_DIRS = {*scrutineer.SITE_PACKAGES_DIRS, Path(jaxbpe.__file__).resolve().parent}
"""


def main(target: str) -> None:
    out = Path(target) / "tests"
    if not out.is_dir():
        fetch_tests(out)
    (out / "conftest.py").write_text(CONFTEST, encoding="utf-8")


def fetch_tests(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             f"tiktoken=={VERSION}", "-d", tmp],
            check=True,
        )
        sdist = Path(tmp) / SDIST
        if (actual := hashlib.sha256(sdist.read_bytes()).hexdigest()) != SHA256:
            sys.exit(f"{SDIST}: sha256 {actual}, expected {SHA256}")
        staged = Path(tmp) / "tests"
        staged.mkdir()
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.startswith(f"tiktoken-{VERSION}/tests/"):
                    source = tar.extractfile(member).read().decode("utf-8")
                    jaxbpe = re.sub(r"^import tiktoken$", "import jaxbpe as tiktoken", source, flags=re.MULTILINE)
                    (staged / Path(member.name).name).write_text(jaxbpe, encoding="utf-8")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staged, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
