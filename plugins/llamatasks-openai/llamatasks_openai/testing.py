"""An in-process OpenAI-compatible completions server for tests, backed by any llamatasks engine.

It listens on 127.0.0.1 only and implements what this backend uses, the way
vLLM does: ``GET /v1/models``; ``POST /v1/completions`` with a prompt (text,
token ids, or a list of either), ``max_tokens``, ``temperature``, ``top_p``,
``seed``, ``stop``, vLLM's ``stop_token_ids``, ``ignore_eos`` and
``return_tokens_as_token_ids``, and ``echo`` with ``logprobs``; ``POST
/v1/chat/completions`` with ``image_url`` parts (``data:`` URLs only, decoded
and kept in ``images`` for assertions), generating from the messages' text on
the engine. Switches make it behave like more limited servers: ``echo=False``
refuses echo (as llama.cpp's llama-server does), ``extensions=False`` refuses
non-OpenAI fields, ``images=False`` refuses image parts (a text-only model).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llamatasks.plugins import Engine, GenerateRequest, GenerationOptions, ScoreRequest
from llamatasks.tokenizer import Tokenizer

__all__ = ["FakeCompletionsServer"]

_OPENAI_FIELDS = {"model", "prompt", "max_tokens", "temperature", "top_p", "n", "seed", "stop", "echo", "logprobs",
                  "stream", "user", "presence_penalty", "frequency_penalty", "best_of", "suffix", "logit_bias"}


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FakeCompletionsServer:
    """``with FakeCompletionsServer(engine, tokenizer) as server: server.base_url``."""

    def __init__(self, engine: Engine, tokenizer: Tokenizer, *, model: str = "tiny", echo: bool = True,
                 extensions: bool = True, images: bool = True) -> None:
        self.engine, self.tokenizer, self.model = engine, tokenizer, model
        self.echo, self.extensions, self.accepts_images = echo, extensions, images
        self.requests: list[dict[str, Any]] = []  # every completions body received, for assertions
        self.images: list[Any] = []  # every image received in a chat completion, decoded (PIL)
        self._lock = threading.Lock()  # engines are not thread-safe; the HTTP server is threaded
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeCompletionsServer:  # noqa: PYI034 - Self needs typing_extensions on 3.10
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never ran otherwise
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    # -- the API ------------------------------------------------------------------

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.model, "object": "model"}]}

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(body)
        if not self.extensions and set(body) - _OPENAI_FIELDS:
            raise _Refused(f"unrecognized request arguments: {sorted(set(body) - _OPENAI_FIELDS)}")
        if body.get("model") != self.model:
            raise _Refused(f"the model {body.get('model')!r} does not exist")
        prompts = [self._ids(p) for p in self._prompt_list(body.get("prompt"))]
        if body.get("echo"):
            if not self.echo:
                raise _Refused("Only no echo is supported")
            choices = [self._echo(ids) for ids in prompts]
        else:
            choices = self._generate(prompts, body)
        return {"object": "text_completion", "model": self.model,
                "choices": [{"index": i, **c} for i, c in enumerate(choices)]}

    def chat_completions(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat completion: images decoded and kept, the reply generated from the messages' text."""
        self.requests.append(body)
        if body.get("model") != self.model:
            raise _Refused(f"the model {body.get('model')!r} does not exist")
        texts = []
        for message in body.get("messages") or []:
            content = message.get("content")
            for part in [{"type": "text", "text": content}] if isinstance(content, str) else content or []:
                if part.get("type") == "image_url":
                    self.images.append(self._image(part))
                elif part.get("type") == "text":
                    texts.append(str(part.get("text", "")))
        prompt = self._ids(" ".join(texts) or "?")
        options = GenerationOptions(max_new_tokens=int(body.get("max_tokens", 16)),
                                    temperature=float(body.get("temperature", 1.0)), seed=body.get("seed"))
        (out,) = self.engine.generate(GenerateRequest(prompts=[prompt], options=options))
        message = {"role": "assistant", "content": self.tokenizer.decode(out.token_ids)}
        return {"object": "chat.completion", "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": out.finish_reason}]}

    def _image(self, part: dict[str, Any]) -> Any:
        import base64
        import io

        from PIL import Image

        if not self.accepts_images:
            raise _Refused("this model does not support image input")
        url = str((part.get("image_url") or {}).get("url", ""))
        if not url.startswith("data:image/"):
            raise _Refused("only data: URLs are accepted here")
        return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))

    def _prompt_list(self, prompt: Any) -> list[Any]:
        if isinstance(prompt, str) or (isinstance(prompt, list) and prompt and isinstance(prompt[0], int)):
            return [prompt]
        if isinstance(prompt, list) and prompt:
            return prompt
        raise _Refused("prompt must be a string, a list of token ids, or a list of either")

    def _ids(self, prompt: Any) -> list[int]:
        ids = self.tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)
        vocab = self.tokenizer.vocab_size
        if not ids or any(not isinstance(t, int) or not 0 <= t < vocab for t in ids):
            raise _Refused(f"token ids must be in [0, {vocab})")
        return ids

    def _generate(self, prompts: list[list[int]], body: dict[str, Any]) -> list[dict[str, Any]]:
        stops = list(body.get("stop_token_ids") or [])
        eos = self.tokenizer.eos_id
        if not body.get("ignore_eos") and eos is not None:
            stops.append(eos)
        options = GenerationOptions(max_new_tokens=int(body.get("max_tokens", 16)),
                                    temperature=float(body.get("temperature", 1.0)),
                                    top_p=float(body.get("top_p", 1.0)), seed=body.get("seed"),
                                    stop_token_ids=tuple(stops))
        outputs = self.engine.generate(GenerateRequest(prompts=prompts, options=options))
        choices = []
        for out in outputs:
            # Like vLLM, keep the stop token that ended a row in the returned tokens (which
            # of the stop ids it was is lost here; clients trim at any of them).
            ids = out.token_ids + ([options.stop_token_ids[0]] if out.finish_reason == "stop" else [])
            text = self._cut_at_stop_strings(self.tokenizer.decode(out.token_ids), body.get("stop"))
            choice: dict[str, Any] = {"text": text, "finish_reason": out.finish_reason, "logprobs": None}
            if body.get("logprobs") is not None and body.get("return_tokens_as_token_ids"):
                # vLLM sends each sampled token's log-probability with logprobs=0; the stop token has none here.
                logprobs = out.token_logprobs + ([0.0] if out.finish_reason == "stop" else [])
                choice["logprobs"] = {"tokens": [f"token_id:{t}" for t in ids], "token_logprobs": logprobs}
            choices.append(choice)
        return choices

    @staticmethod
    def _cut_at_stop_strings(text: str, stop: Any) -> str:
        for s in stop or []:
            if s and s in text:
                text = text[:text.index(s)]
        return text

    def _echo(self, ids: list[int]) -> dict[str, Any]:
        """Prompt log-probabilities (None for the first token) plus one greedy token, as OpenAI's echo does."""
        requests = [ScoreRequest(prompt=tuple(ids[:j]), continuations=((ids[j],),)) for j in range(1, len(ids))]
        prompt_logprobs = [row[0] for row in self.engine.score(requests)] if requests else []
        (nxt,) = self.engine.generate(GenerateRequest(prompts=[ids], options=GenerationOptions(max_new_tokens=1)))
        (next_lp,) = self.engine.score([ScoreRequest(prompt=tuple(ids), continuations=(tuple(nxt.token_ids),))])
        all_ids = ids + nxt.token_ids
        # Offsets from decoding growing prefixes: decoding tokens one by one loses
        # SentencePiece's leading spaces.
        offsets = [len(self.tokenizer.decode(all_ids[:i], skip_special=False)) for i in range(len(all_ids))]
        text = self.tokenizer.decode(all_ids, skip_special=False)
        tokens = [text[a:b] for a, b in zip(offsets, [*offsets[1:], len(text)])]
        return {"text": text, "finish_reason": "length",
                "logprobs": {"tokens": tokens, "token_logprobs": [None, *prompt_logprobs, next_lp[0]],
                             "text_offset": offsets, "top_logprobs": None}}

    # -- HTTP -----------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._reply(200, server.models())
                else:
                    self._reply(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                routes = {"/v1/completions": server.completions, "/v1/chat/completions": server.chat_completions}
                route = routes.get(self.path.rstrip("/"))
                if route is None:
                    self._reply(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    with server._lock:
                        self._reply(200, route(body))
                except _Refused as exc:
                    self._reply(400, {"error": {"message": exc.message, "type": "invalid_request_error"}})
                except Exception as exc:  # noqa: BLE001 - anything else is what a real server's 500 looks like
                    self._reply(500, {"error": {"message": f"{type(exc).__name__}: {exc}"}})

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        return Handler
