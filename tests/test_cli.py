"""`python -m jaxbpe encode`: files or JSON lines to one id stream (.npy / .bin), with
progress on a terminal or in plain lines, and no partial output when interrupted."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import jaxbpe
from jaxbpe.__main__ import main


def expected_stream(enc, docs) -> list[int]:
    return [i for d in docs for i in [*enc.encode_to_numpy(d, disallowed_special=()).tolist(), enc.eot_token]]


def test_files_become_one_npy_stream_of_documents_each_ending_in_eot(tmp_path, capsys):
    docs = [b"Hello world, first file.\n", "zweite Datei \u00e9\u20ac \U0001f600".encode(), b"", b"\xff\xfe invalid"]
    paths = []
    for i, d in enumerate(docs):
        paths.append(tmp_path / f"doc{i}.txt")
        paths[-1].write_bytes(d)
    out = tmp_path / "ids.npy"
    assert main(["encode", *map(str, paths), "--encoding", "gpt2", "--out", str(out)]) == 0
    ids = np.load(out)
    enc = jaxbpe.get_encoding("gpt2")
    assert ids.dtype == np.uint16 and ids.tolist() == expected_stream(enc, docs)
    err = capsys.readouterr().err
    assert "4 documents" in err and f"{ids.size:,} tokens -> {out} (uint16)" in err
    assert not list(tmp_path.glob("*.part*"))


def test_jsonl_documents_to_raw_uint32_when_ids_exceed_uint16(tmp_path):
    texts = ["first <|endoftext|> text", "", "second\nline", "\ud800 lone surrogate"]
    source = tmp_path / "shard.jsonl"
    source.write_text("\n".join([json.dumps({"text": t, "id": i}) for i, t in enumerate(texts)] + ["", ""]))
    out = tmp_path / "ids.bin"
    assert main(["encode", str(source), "--jsonl", "--encoding", "o200k_base", "--out", str(out)]) == 0
    enc = jaxbpe.get_encoding("o200k_base")
    # Special-token text is ordinary text; blank lines are no documents.
    assert np.fromfile(out, "<u4").tolist() == expected_stream(enc, texts)


def test_a_bad_jsonl_line_is_an_error_naming_it_and_leaves_no_output(tmp_path, capsys):
    source = tmp_path / "shard.jsonl"
    source.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    out = tmp_path / "ids.npy"
    assert main(["encode", str(source), "--jsonl", "--out", str(out)]) == 2
    assert f"{source}:2: not a JSON object with a string 'text' field" in capsys.readouterr().err
    assert not list(tmp_path.glob("ids*"))
    assert main(["encode", str(source), "--out", str(tmp_path / "ids.txt")]) == 2
    assert "--out must end in .npy or .bin" in capsys.readouterr().err


def test_progress_is_plain_lines_off_a_terminal_and_a_bar_on_one(tmp_path):
    source = tmp_path / "doc.txt"
    source.write_bytes(b"some text to tokenize " * 1000)
    tokens = f"{jaxbpe.get_encoding('gpt2').encode_to_numpy(source.read_bytes()).size + 1:,} tokens"
    command = [sys.executable, "-m", "jaxbpe", "encode", str(source)]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0 and "\r" not in plain.stderr
    assert f"encode: 0.0 MB / 0.0 MB (100%), 1 documents, {tokens};" in plain.stderr
    assert "MB/s" in plain.stderr and "Mtok/s" in plain.stderr

    leader, follower = pty.openpty()
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=follower) as run:
        os.close(follower)
        shown = b""
        while chunk := _read(leader):
            shown += chunk
        assert run.wait(timeout=120) == 0
    os.close(leader)
    bar = "\r\x1b[2K[" + "#" * 30 + f"] 0.0 MB / 0.0 MB (100%), 1 documents, {tokens}"
    assert bar.encode() in shown


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the terminal closed with the process
        return b""


def test_an_interrupt_leaves_no_partial_output(tmp_path):
    fifo = tmp_path / "incoming.jsonl"
    os.mkfifo(fifo)
    out = tmp_path / "ids.npy"
    command = [sys.executable, "-m", "jaxbpe", "encode", str(fifo), "--jsonl", "--out", str(out)]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as run:
        with open(fifo, "w") as writer:  # opens once the command reads it
            writer.write('{"text": "a first document"}\n' * 1000)
            writer.flush()
            part = tmp_path / "ids.npy.part"
            for _ in range(600):  # the command has started writing
                if part.exists():
                    break
                time.sleep(0.1)
            assert part.exists()
            run.send_signal(signal.SIGINT)
            assert run.wait(timeout=60) == 130
        assert "interrupted; no output was written" in run.stderr.read()
    assert not list(tmp_path.glob("ids*"))


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"jaxbpe {jaxbpe.__version__}"
