"""The docs site builds in strict mode, and the plugin tutorial's code runs and passes its own tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "writing-a-plugin.md"
# A fenced block whose first line names a file (`# path/to/file.py`) is that file, complete.
FILE_BLOCK = re.compile(r"^```(?:python|toml)\n# ([\w./-]+\.(?:py|toml))\n(.*?)^```", re.MULTILINE | re.DOTALL)

pytest_plugins = ["pytester"]


def tutorial_files() -> dict[str, str]:
    return {path: f"# {path}\n{body}" for path, body in FILE_BLOCK.findall(TUTORIAL.read_text(encoding="utf-8"))}


def test_the_tutorial_shows_every_file_of_the_plugin() -> None:
    assert set(tutorial_files()) == {"llamatasks_formality/__init__.py", "pyproject.toml", "conftest.py",
                                     "tests/test_formality.py"}


def test_the_tutorial_plugin_passes_its_own_tests(pytester: pytest.Pytester, fixture_tokenizers: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for path, text in tutorial_files().items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    # "Installed" only as far as the import path goes, as in the tutorial. A separate process: an
    # in-process run drops the modules it imported, and C extensions (numpy) cannot load twice.
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))
    monkeypatch.setenv("LLAMATASKS_FIXTURE_TOKENIZERS", str(fixture_tokenizers))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "tests")
    result.assert_outcomes(passed=5)


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason='the docs extra is not installed: pip install -e ".[docs]"')
    pytest.importorskip("mkdocstrings_handlers.python", reason='needs mkdocstrings[python]: pip install -e ".[docs]"')
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    hooks_page = (site / "hooks" / "index.html").read_text(encoding="utf-8")
    assert "register_commands" in hooks_page
    assert "BackendConformance" in (site / "reference" / "index.html").read_text(encoding="utf-8")
