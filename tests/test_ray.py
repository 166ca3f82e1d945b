"""``llamatasks.ray``: the same results on a local Ray cluster as in one process, row for row.

One cluster (``ray.init(num_cpus=2)``) serves the whole module: Ray starts slowly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import llamatasks
from llamatasks.results import ItemError
from llamatasks.testing.parity import comparable

ray = pytest.importorskip("ray", reason="needs the ray extra: pip install 'llamatasks[ray]'")
pytest.importorskip("ray.data", reason="needs ray[data]")

TEXTS: list[Any] = ["a fine film", "", "the worst day", "great!", "never again", "ok", "lovely", "\u200b"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    env = {key: os.environ[key] for key in ("LLAMATASKS_DTYPE",) if key in os.environ}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint: Callable[[str], Path]) -> Path:
    return tiny_checkpoint("chatml")



def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) < 1e-4  # float32 noise of other batch shapes
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return bool(a == b)


def test_map_batches_equals_the_local_run_row_for_row(cluster: Any, checkpoint: Path,
                                                      tiny_model: Callable[..., llamatasks.Model]) -> None:
    from llamatasks.ray import map_batches

    local = list(tiny_model("chatml").map("sentiment", TEXTS, batch_size=3, phrasings=1))
    dataset = cluster.data.from_items([{"text": t} for t in TEXTS])
    mapped = map_batches(dataset, "sentiment", model=checkpoint, device="cpu", concurrency=2, batch_size=3,
                         phrasings=1)
    rows = mapped.take_all()
    assert [r["text"] for r in rows] == TEXTS
    for row, expected in zip(rows, local):
        if isinstance(expected, ItemError):
            assert row["result"] is None
            assert ItemError.model_validate_json(row["error"]).error == expected.error
        else:
            assert row["error"] is None
            assert _close(comparable(row["result"]), comparable(expected.model_dump_json()))


def test_batch_engine_ray_writes_what_the_local_engine_writes(cluster: Any, checkpoint: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from llamatasks.cli import add_plugin_commands, app

    monkeypatch.setenv("LLAMATASKS_CACHE", str(tmp_path / "cache"))
    add_plugin_commands()
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS) + "[1, 2]\n")
    outputs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.jsonl"
        ran = CliRunner().invoke(app, ["batch", "sentiment", "-i", str(source), "-o", str(out), "-m",
                                       str(checkpoint), "--device", "cpu", "--engine", engine, "--no-cache",
                                       "--phrasings", "1", "--concurrency", "2", "--shard-size", "4"])
        assert ran.exit_code == 0, ran.output
        outputs[engine] = [comparable(json.loads(line)) for line in out.read_text().splitlines()]
    assert len(outputs["ray"]) == len(TEXTS) + 1
    for ours, theirs in zip(outputs["ray"], outputs["local"]):
        assert _close(ours, theirs)


def test_bad_options_fail_on_the_driver(cluster: Any, checkpoint: Path) -> None:
    from llamatasks.errors import InvalidInputError
    from llamatasks.ray import map_batches

    with pytest.raises(InvalidInputError):
        map_batches(cluster.data.from_items([{"text": "x"}]), "sentiment", model=checkpoint, phrasings=0)
