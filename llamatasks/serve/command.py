"""``llamatasks serve``: load a model and serve its tasks over HTTP (uvicorn)."""

from __future__ import annotations

import os

import typer

#: Where the API key is read from when ``--api-key`` is not given.
API_KEY_ENV = "LLAMATASKS_API_KEY"


def serve_command(
    model: str | None = typer.Option(None, "--model", "-m", help="Model folder or .gguf (default: the default model)."),
    backend: str | None = typer.Option(None, "--backend", "-b", help="Backend name (default: from the model folder)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, "--port", "-p", help="Port to listen on."),
    api_key: str | None = typer.Option(None, "--api-key", help=f"Require this key (default: ${API_KEY_ENV}, if set)."),
    max_batch: int = typer.Option(32, "--max-batch", min=1, help="Most texts gathered into one list call."),
    window_ms: float = typer.Option(10.0, "--window-ms", min=0, help="How long a request waits to share a call."),
    timeout: float = typer.Option(120.0, "--timeout", min=0.001, help="Per-request limit in seconds (504 after)."),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", min=1, help="Largest body (413 above)."),
    max_text_chars: int = typer.Option(20_000, "--max-text-chars", min=1, help="Longest text (413 above)."),
) -> None:
    """Serve every registered task over HTTP: POST /v1/{task}, docs at /docs."""
    import uvicorn

    from llamatasks.loading import load
    from llamatasks.serve.app import ServeSettings, create_app

    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    settings = ServeSettings(max_batch=max_batch, window_ms=window_ms, timeout_s=timeout,
                             max_body_bytes=max_body_bytes, max_text_chars=max_text_chars, api_key=key)
    app = create_app(load(model, backend=backend, device=device), settings)
    typer.echo(f"llamatasks: serving on http://{host}:{port} (docs at /docs){'; API key required' if key else ''}",
               err=True)
    # uvicorn finishes in-flight requests on SIGINT/SIGTERM before the app's shutdown runs.
    uvicorn.run(app, host=host, port=port, log_level="info")
