"""No PyTorch at run time: tasks run on an export in a Python where torch cannot be imported.

The child process gets a copy of this environment's site-packages (as
symlinks) without torch and its metadata, and no ``site`` processing, so
``import torch`` fails and transformers reports PyTorch as absent, exactly as
on a machine where it was never installed.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="needs the onnx extra")
pytest.importorskip("onnxruntime_genai", reason="needs the onnx extra")

import llamatasks_export
from llamatasks_export.testing import export_once

import llamatasks

_HIDDEN = ("torch", "functorch", "torchgen", "triton", "nvidia")

CHILD = textwrap.dedent("""
    import json, sys
    import llamatasks

    m = llamatasks.load(sys.argv[1])
    result = {
        "backend": m.backend_name,
        "sentiment": m.sentiment("great phone").label,
        "summary": m.summarize("The council approved the budget. It adds bike lanes.", max_words=8).text,
        "entities": len(m.ner("Tim Cook visited Paris.").entities),
    }
    try:
        import torch  # noqa: F401
        result["torch"] = "importable"
    except ImportError:
        result["torch"] = "absent"
    result["torch_modules"] = sorted(k for k in sys.modules if k == "torch" or k.startswith("torch."))
    print(json.dumps(result))
""")


def _site_without_torch(folder: Path) -> Path:
    folder.mkdir()
    for packages in site.getsitepackages():
        for entry in Path(packages).iterdir():
            name = entry.name.lower()
            if name.startswith(_HIDDEN) or name.endswith(".pth") or name.startswith("__editable__"):
                continue
            if not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return folder


@pytest.mark.parametrize("kind", ["chatml", "llama3-instruct"])
def test_tasks_run_on_an_export_without_torch(kind: str, tiny_checkpoint: Callable[[str], Path],
                                              tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    if sys.platform == "win32":
        pytest.skip("builds a symlinked site-packages")
    export = export_once(tiny_checkpoint(kind), tmp_path_factory.getbasetemp() / "onnx-exports")
    packages = _site_without_torch(tmp_path / "site-packages")
    roots = [packages, Path(llamatasks.__file__).parents[1], Path(llamatasks_export.__file__).parents[1]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join(map(str, roots))
    done = subprocess.run([sys.executable, "-S", "-c", CHILD, str(export)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["torch"] == "absent" and result["torch_modules"] == []
    assert result["backend"] == "onnx" and result["sentiment"] in ("positive", "negative")
