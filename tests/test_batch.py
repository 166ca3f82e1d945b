"""``llamatasks batch``: file formats, output rows, the cache, and resuming a job killed with SIGKILL."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from llamatasks.corpus.job import job_folder

ROWS = [{"doc": f"d{i}", "body": text} for i, text in
        enumerate(["a fine film", "", "the worst day", "great!", "never again"])]


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint: Callable[[str], Path]) -> str:
    return str(tiny_checkpoint("chatml"))


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLAMATASKS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _batch(*args: str) -> Result:
    from llamatasks.cli import add_plugin_commands, app

    add_plugin_commands()
    return CliRunner().invoke(app, ["batch", *args])


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write_inputs(folder: Path) -> dict[str, Path]:
    paths = {fmt: folder / f"in.{fmt}" for fmt in ("jsonl", "csv", "parquet", "txt")}
    paths["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    with paths["csv"].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["doc", "body"])
        writer.writeheader()
        writer.writerows(ROWS)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), paths["parquet"])
    paths["txt"].write_text("".join(r["body"] + "\n" for r in ROWS), encoding="utf-8")
    return paths


def test_every_input_format_gives_the_same_rows(tmp_path: Path, checkpoint: str) -> None:
    outputs = {}
    for fmt, path in _write_inputs(tmp_path).items():
        fields = [] if fmt == "txt" else ["--field", "body", "--id-field", "doc"]
        out = tmp_path / f"out-{fmt}.jsonl"
        ran = _batch("sentiment", "-i", str(path), "-o", str(out), "-m", checkpoint, "--phrasings", "1", *fields)
        assert ran.exit_code == 0, ran.output
        assert "done 5 rows (1 errors" in ran.output
        outputs[fmt] = _jsonl(out)
    jsonl = outputs["jsonl"]
    assert [r["id"] for r in jsonl] == [r["doc"] for r in ROWS]
    assert [r["id"] for r in outputs["txt"]] == [0, 1, 2, 3, 4]
    assert jsonl[1]["result"] is None and jsonl[1]["error"]["error"] == "InvalidInputError"
    assert jsonl[0]["result"]["label"] in ("positive", "negative") and jsonl[0]["provenance"]["backend"] == "torch"
    for rows in outputs.values():
        assert [r["result"] and r["result"]["label"] for r in rows] == [r["result"] and r["result"]["label"]
                                                                        for r in jsonl]


def test_parquet_and_csv_output(tmp_path: Path, checkpoint: str) -> None:
    import pyarrow.parquet as pq

    source = _write_inputs(tmp_path)["jsonl"]
    for suffix in ("parquet", "csv"):
        ran = _batch("classify", "-i", str(source), "-o", str(tmp_path / f"out.{suffix}"), "-m", checkpoint,
                     "--field", "body", "--id-field", "doc", "--labels", "film,day")
        assert ran.exit_code == 0, ran.output
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema.names == ["id", "result", "error", "provenance"]
    assert str(table.schema.field("provenance").type.field("cached").type) == "bool"
    assert b"llamatasks.result_schema" in table.schema.metadata
    rows = table.to_pylist()
    assert json.loads(rows[0]["result"])["label"] in ("film", "day") and rows[1]["error"]["index"] == 1
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as fh:
        read = list(csv.DictReader(fh))
    assert [r["id"] for r in read] == [r["doc"] for r in ROWS]
    assert json.loads(read[0]["result"]) == json.loads(rows[0]["result"])


def test_second_run_is_a_no_op_and_a_second_job_hits_the_cache(tmp_path: Path, checkpoint: str,
                                                                cache_home: Path) -> None:
    source = _write_inputs(tmp_path)["txt"]
    out = tmp_path / "out.jsonl"
    args = ["sentiment", "-i", str(source), "-m", checkpoint, "--phrasings", "1"]
    assert _batch(*args, "-o", str(out)).exit_code == 0
    written = out.stat().st_mtime_ns
    again = _batch(*args, "-o", str(out))
    assert again.exit_code == 0 and "already done" in again.output and out.stat().st_mtime_ns == written
    other = _batch(*args, "-o", str(tmp_path / "other.jsonl"))
    assert "4 cached" in other.output
    assert [r["provenance"]["cached"] for r in _jsonl(tmp_path / "other.jsonl") if r["provenance"]] == [True] * 4
    uncached = _batch(*args, "-o", str(tmp_path / "third.jsonl"), "--no-cache")
    assert "0 cached" in uncached.output


def test_refuses_to_clobber_and_reports_bad_input(tmp_path: Path, checkpoint: str) -> None:
    paths = _write_inputs(tmp_path)
    out = tmp_path / "out.jsonl"
    out.write_text("someone's file\n")
    refused = _batch("sentiment", "-i", str(paths["txt"]), "-o", str(out), "-m", checkpoint)
    assert refused.exit_code != 0 and "already exists" in str(refused.exception)
    assert out.read_text() == "someone's file\n"
    assert _batch("sentiment", "-i", str(paths["txt"]), "-o", str(out), "-m", checkpoint, "--overwrite",
                  "--phrasings", "1").exit_code == 0
    missing = _batch("sentiment", "-i", str(paths["csv"]), "-o", str(tmp_path / "x.jsonl"), "-m", checkpoint)
    assert "no column 'text'" in str(missing.exception) and "--field" in str(missing.exception)
    bad_format = _batch("sentiment", "-i", str(paths["txt"]), "-o", str(tmp_path / "x.xlsx"), "-m", checkpoint)
    assert "unsupported output format" in str(bad_format.exception)


def _start_job(source: Path, out: Path, checkpoint: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "llamatasks", "batch", "sentiment", "-i", str(source), "-o", str(out),
               "-m", checkpoint, "--device", "cpu", "--shard-size", "5", "--batch-size", "5", "--no-cache"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_job_killed_with_sigkill_resumes_with_every_row_exactly_once(tmp_path: Path, checkpoint: str,
                                                                        cache_home: Path) -> None:
    count = 400
    source = tmp_path / "reviews.txt"
    source.write_text("".join(f"review {i}: {'good' if i % 3 else 'bad'} stuff\n" for i in range(count)))
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "LLAMATASKS_CACHE": str(cache_home)}
    job = _start_job(source, out, checkpoint, env)
    deadline = time.monotonic() + 120
    while len(list(job_folder(out).glob("shard-*.jsonl"))) < 3:  # killed mid-job, between or during shards
        assert job.poll() is None, job.communicate()[1].decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert not out.exists()
    refused = _batch("sentiment", "-i", str(source), "-o", str(out), "-m", checkpoint)
    assert "interrupted job" in str(refused.exception) and "--resume" in str(refused.exception)
    resumed = _batch("sentiment", "-i", str(source), "-o", str(out), "-m", checkpoint, "--device", "cpu",
                     "--shard-size", "5", "--batch-size", "5", "--no-cache", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resumed from checkpoints" in resumed.output and f"done {count} rows" in resumed.output
    rows = _jsonl(out)
    assert [r["id"] for r in rows] == list(range(count))
    assert all(r["result"] is not None for r in rows)
    assert not list(job_folder(out).glob("shard-*"))


def test_output_has_a_row_for_every_row_read(tmp_path: Path, checkpoint: str) -> None:
    text = tmp_path / "odd.txt"
    text.write_bytes(b"one\r\ntwo\rstill two\n\nfour")  # CRLF, a stray CR, a blank line, no final newline
    table = tmp_path / "blank.csv"
    table.write_text("text\nfirst\n\nsecond\n", encoding="utf-8")  # csv skips the blank row
    for source, expected in ((text, ["Sentiment", "Sentiment", None, "Sentiment"]), (table, ["Sentiment"] * 2)):
        out = tmp_path / f"{source.stem}.jsonl"
        ran = _batch("sentiment", "-i", str(source), "-o", str(out), "-m", checkpoint, "--phrasings", "1")
        assert ran.exit_code == 0, ran.output
        rows = _jsonl(out)
        assert [r["id"] for r in rows] == list(range(len(expected)))
        assert [None if r["error"] else "Sentiment" for r in rows] == expected
