"""A small JSON-over-HTTP client for the OpenAI completions API, on the standard library.

``urllib`` rather than httpx: the backend sends a few blocking JSON requests
per batch (each carrying the whole batch), so pooling, HTTP/2 and async buy
little next to the model's own time, and a backend plugin installed beside
servers and notebooks is better off without a client library to pin.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from llamatasks.errors import BackendUnavailableError
from llamatasks_openai.errors import ServerFailedError, ServerRejectedError


class CompletionsClient:
    """``GET``/``POST`` JSON to an OpenAI-compatible server; failures become llamatasks errors."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def get(self, path: str) -> dict[str, Any]:
        return self._send(urllib.request.Request(self._url(path), headers=self._headers()))

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        return self._send(urllib.request.Request(self._url(path), data=data, headers=self._headers(), method="POST"))

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _send(self, request: urllib.request.Request) -> dict[str, Any]:
        url = request.full_url
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc.read())
            if 400 <= exc.code < 500:
                raise ServerRejectedError(f"the server refused {request.get_method()} {url} (HTTP {exc.code}): {detail}",
                                          hint="check the model name and token ids; see the server's log") from exc
            raise ServerFailedError(f"the server failed on {request.get_method()} {url} (HTTP {exc.code}): {detail}",
                                    hint="see the server's log") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendUnavailableError(f"cannot reach the server at {url}: {reason}",
                                          hint="is the server running, and is base_url right (it ends in /v1)?") from exc
        try:
            answer = json.loads(payload)
        except ValueError as exc:
            raise ServerFailedError(f"{url} answered something that is not JSON: {payload[:200]!r}") from exc
        if not isinstance(answer, dict):
            raise ServerFailedError(f"{url} answered {type(answer).__name__} JSON, not an object")
        return answer


def _error_detail(body: bytes) -> str:
    """The message of an OpenAI-style error body, else the start of the body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:300].decode("utf-8", "replace")
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)
