"""The benchmark harness keeps working: its quick mode runs end to end and every jaxbpe
output in it equals tiktoken's. Speed is never asserted here."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

from conftest import ROOT

ROW = re.compile(r"^\| (?P<input>[^|]+) \| (?P<tokenizer>[^|]+) \|.*\| (?P<exact>[^|]+) \|[^|]+\|[^|]+\|[^|]+\|$")


def test_quick_benchmark_runs_and_jaxbpe_matches_tiktoken_on_every_input(tmp_path):
    out = tmp_path / "RESULTS.md"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]

    rows = [m.groupdict() for line in out.read_text().splitlines() if (m := ROW.match(line))]
    rows = [r for r in rows if r["input"] != "input"]  # not the tables' headers
    tables = re.findall(r"^### (\S+)$", out.read_text(), flags=re.M)
    assert tables == ["r50k_base", "cl100k_base", "o200k_base"]
    inputs = {r["input"] for r in rows}
    assert any(label.startswith("batch") for label in inputs), "no batch input in the report"
    # Every pathological text repeated, and those that a seed changes as first calls too.
    for kind in ("repeated_letter", "random_base64", "spaces", "whitespace_mix", "random_digits"):
        assert f"{kind} 64 KiB repeated" in inputs, f"no repeated {kind} input in the report"
    for kind in ("random_base64", "whitespace_mix", "random_digits"):
        assert f"{kind} 64 KiB first" in inputs, f"no {kind} first calls in the report"
    # Every text kind of the corpus, as first calls on new documents and as repeated ones.
    kinds = ("english", "multilingual", "code", "cjk", "cyrillic", "arabic_indic", "markdown", "json", "minified_js")
    for kind in (*kinds, "polyglot_code"):
        for call in ("first", "repeated"):
            assert f"{kind} 4 KiB {call}" in inputs, f"no {kind} 4 KiB {call} input in the report"
    # gigatoken and quicktok, where installed (the bench extra installs them; CI's test
    # extra does not), run on every single document of the encodings they have
    # (quicktok bundles no r50k_base).
    singles = {label for label in inputs if label.endswith((" first", " repeated"))}
    for table in out.read_text().split("\n### ")[1:]:
        name, lines = table.split("\n", 1)[0], table.splitlines()
        table_rows = [m.groupdict() for line in lines if (m := ROW.match(line))]
        others = ("gigatoken",) if name == "r50k_base" else ("gigatoken", "quicktok")
        for other in filter(importlib.util.find_spec, others):
            ran = {r["input"] for r in table_rows if r["tokenizer"] == f"{other} (1 thr)"}
            assert ran & singles == singles, (name, other, singles - ran)
    jaxbpe_rows = [r for r in rows if r["tokenizer"].startswith("jaxbpe")]
    reference_rows = [r for r in rows if r["tokenizer"] == "tiktoken (1 thr)"]
    assert jaxbpe_rows and reference_rows
    assert {r["exact"] for r in reference_rows} == {"reference"}
    assert {r["exact"] for r in jaxbpe_rows} == {"yes"}, [r for r in jaxbpe_rows if r["exact"] != "yes"]
    # The host API and the jitted custom call each ran on every input.
    for kind in ("jaxbpe (1 thr)", "jaxbpe jit"):
        assert {r["input"] for r in jaxbpe_rows if r["tokenizer"].startswith(kind)} == inputs, kind
