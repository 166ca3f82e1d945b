"""``OpenAIEngine``: the llamatasks engine contract over an OpenAI-compatible completions endpoint.

Generation posts the whole batch as one ``/completions`` request (a list of
prompts). Prompts go as token ids where the server accepts them (vLLM,
llama.cpp's servers), so the server runs exactly the prompt llamatasks
rendered; otherwise as decoded text. Scoring uses the protocol
lm-evaluation-harness uses for loglikelihood: ``echo: true`` with
``logprobs`` and ``max_tokens: 1`` over prompt + continuation, summing the
continuation's echoed log-probabilities. Servers that cannot echo prompt
log-probabilities (llama.cpp's llama-server, Ollama, TGI) do not get
``Capability.SCORE``, and a task that scores is refused with
``CapabilityError`` saying so; generation-only tasks still run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from llamatasks.plugins import (
    Capability,
    Engine,
    GenerateRequest,
    GenerationOptions,
    GenerationOutput,
    InvalidInputError,
    LlamaTasksError,
    LoadRequest,
    ScoreRequest,
    require,
    trim_at_stop,
)
from llamatasks.tokenizer import Tokenizer
from llamatasks_openai.client import CompletionsClient
from llamatasks_openai.config import ServerConfig
from llamatasks_openai.errors import ServerFailedError

_TOKEN_ID_PREFIX = "token_id:"  # vLLM's spelling of tokens with return_tokens_as_token_ids


class OpenAIEngine(Engine):
    """A model served by an OpenAI-compatible server.

    ``capabilities`` holds ``Capability.SCORE`` when the server echoes prompt
    log-probabilities, and nothing else: the API has no per-token constraint
    callback, and beams, n-gram bans and contrastive decoding have no
    completions field, so the runtime decodes those rows plainly.
    """

    backend_name = "openai"
    dtype = "server"
    capability_hints: ClassVar[dict[Capability, str]] = {
        Capability.SCORE: "serve the model with vLLM or llama-cpp-python's server (logits_all), which echo "
                          "log-probabilities; generation-only tasks (summarize, translate, chat) work on any server",
        Capability.CONSTRAINTS: "an OpenAI-compatible API cannot constrain generation token by token: tasks that "
                                "constrain their output (answer) need a local backend, torch or onnx",
    }

    def __init__(self, client: CompletionsClient, config: ServerConfig, tokenizer: Tokenizer, model: str,
                 capabilities: frozenset[Capability] = frozenset()) -> None:
        self.client = client
        self.config = config
        self.tokenizer = tokenizer
        self.model = model
        self.capabilities = capabilities
        self.device = client.base_url

    @classmethod
    def load(cls, request: LoadRequest) -> OpenAIEngine:
        """Connect to the server a model folder points at (its tokenizer is read from the folder)."""
        return cls.connect(ServerConfig.for_folder(request.path), Tokenizer.from_dir(request.path))

    @classmethod
    def connect(cls, config: ServerConfig, tokenizer: Tokenizer) -> OpenAIEngine:
        """Connect to ``config``'s server, naming the model and finding out whether it can score."""
        client = CompletionsClient(config.base_url, config.api_key, config.timeout)
        model = config.model or _only_model(client)
        engine = cls(client, config, tokenizer, model)
        if config.score if config.score is not None else engine._probe_scoring():
            engine.capabilities = frozenset({Capability.SCORE})
        return engine

    # -- generation -------------------------------------------------------------

    def generate(self, request: GenerateRequest) -> list[GenerationOutput]:
        """One ``/completions`` request for the whole batch (the runtime never sends constraints)."""
        if request.constrained:
            require(self, Capability.CONSTRAINTS)  # raises: the API has no such callback
        choices = self._complete(request.prompts, self._generation_fields(request.options))
        return [self._output(choice, request.options) for choice in choices]

    def _complete(self, sequences: Sequence[Sequence[int]], fields: dict[str, Any]) -> list[dict[str, Any]]:
        """``/completions`` for every sequence, ``batch_size`` prompts per request; the choices in order."""
        prompts = self._prompt_field(sequences)
        size = self.config.batch_size or len(prompts)
        choices: list[dict[str, Any]] = []
        for start in range(0, len(prompts), size):
            chunk = prompts[start:start + size]
            body = {"model": self.model, "prompt": chunk if len(chunk) > 1 else chunk[0], **fields}
            choices += _choices(self.client.post("completions", body), len(chunk))
        return choices

    def _generation_fields(self, options: GenerationOptions) -> dict[str, Any]:
        body: dict[str, Any] = {"max_tokens": options.max_new_tokens, "temperature": options.temperature,
                                "top_p": options.top_p, "n": 1}
        if options.temperature > 0 and options.seed is not None:
            body["seed"] = options.seed
        if self.config.extensions:
            # Stop exactly at the caller's stop ids, never at the model's own eos
            # behind our back; ask for the generated ids rather than re-tokenizing text.
            body.update(stop_token_ids=list(options.stop_token_ids), ignore_eos=True, logprobs=0,
                        return_tokens_as_token_ids=True)
            if options.repetition_penalty != 1.0:
                body["repetition_penalty"] = options.repetition_penalty
        elif options.stop_token_ids:
            # Plain OpenAI: up to four stop strings, matched on the decoded text.
            stops = [self.tokenizer.decode([i], skip_special=False) for i in options.stop_token_ids]
            body["stop"] = [s for s in dict.fromkeys(stops) if s][:4]
        return body

    def _prompt_field(self, sequences: Sequence[Sequence[int]]) -> list[Any]:
        if self.config.token_ids:
            return [list(ids) for ids in sequences]
        return [self.tokenizer.decode(list(ids), skip_special=False) for ids in sequences]

    def _output(self, choice: dict[str, Any], options: GenerationOptions) -> GenerationOutput:
        ids = _returned_token_ids(choice)
        if ids is None:  # the server sent text only: our tokenizer's reading of it
            ids = self.tokenizer.encode_inner(str(choice.get("text") or ""))
        trimmed = trim_at_stop(ids, options.stop_token_ids)  # servers differ on including the stop token
        logprobs = _token_logprobs(choice, len(trimmed.token_ids))
        if trimmed.finish_reason == "stop":
            return GenerationOutput(token_ids=trimmed.token_ids, finish_reason="stop", token_logprobs=logprobs)
        stopped = choice.get("finish_reason") == "stop" and len(ids) < options.max_new_tokens
        return GenerationOutput(token_ids=ids, finish_reason="stop" if stopped else "length", token_logprobs=logprobs)

    # -- scoring ----------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Echoed log-probabilities of prompt + continuation, one request for the whole batch."""
        require(self, Capability.SCORE)
        pairs = [(r.prompt, c) for r in requests for c in r.continuations]
        if not pairs:
            return []
        fields = {"max_tokens": 1, "temperature": 0, "echo": True, "logprobs": 1}
        choices = self._complete([p + c for p, c in pairs], fields)
        flat = iter([self._continuation_logprob(ch, p, c) for ch, (p, c) in zip(choices, pairs)])
        return [[next(flat) for _ in r.continuations] for r in requests]

    def _continuation_logprob(self, choice: dict[str, Any], prompt: Sequence[int], cont: Sequence[int]) -> float:
        logprobs = choice.get("logprobs") or {}
        values = logprobs.get("token_logprobs") or []
        if self.config.token_ids:
            wanted = values[len(prompt):len(prompt) + len(cont)]
        else:  # text prompts: the server's own tokens of the continuation's text
            sent = self.tokenizer.decode(list(prompt) + list(cont), skip_special=False)
            wanted = _tail_logprobs(logprobs, str(choice.get("text") or ""), sent,
                                    self.tokenizer.decode(list(cont), skip_special=False))
            if wanted is None:  # no token strings: the tokens that start within the continuation's text
                start = len(self.tokenizer.decode(list(prompt), skip_special=False))
                offsets = logprobs.get("text_offset") or []
                wanted = [v for v, at in zip(values, offsets) if start <= at < len(sent)]
        if not wanted or any(not isinstance(v, (int, float)) for v in wanted) or (
                self.config.token_ids and len(wanted) != len(cont)):
            raise ServerFailedError(
                f"the server echoed {len(values)} log-probabilities for a {len(prompt) + len(cont)}-token "
                "prompt; the continuation's are missing",
                hint="the server may not support echo with logprobs: set \"score\": false in llamatasks-openai.json",
            )
        return float(sum(wanted))

    def _probe_scoring(self) -> bool:
        """Whether the server echoes prompt log-probabilities: one small scoring request."""
        ids = self.tokenizer.encode("Hello, world")[:3]
        request = ScoreRequest(prompt=tuple(ids[:-1]), continuations=((ids[-1],),))
        self.capabilities = frozenset({Capability.SCORE})
        try:
            self.score([request])
        except (InvalidInputError, ServerFailedError):
            return False
        except LlamaTasksError:  # unreachable server and the like: not a capability question
            raise
        finally:
            self.capabilities = frozenset()
        return True

    def image_engine(self) -> Any:
        """Image prompts over ``/chat/completions`` (``"images": true`` in the config); else a typed refusal."""
        from llamatasks.errors import VisionUnsupportedError
        from llamatasks_openai.images import OpenAIImageEngine

        if not self.config.images:
            raise VisionUnsupportedError(
                f"the server at {self.client.base_url} is not configured to take images",
                hint='set "images": true in llamatasks-openai.json if it serves a vision model (vLLM serves LLaMA '
                     '3.2 Vision and Llama 4)')
        return OpenAIImageEngine(self)

    def close(self) -> None:
        """Nothing to release: every request opens and closes its own connection."""


def _only_model(client: CompletionsClient) -> str:
    models = [m.get("id") for m in client.get("models").get("data", []) if isinstance(m, dict)]
    names = [m for m in models if isinstance(m, str)]
    if len(names) != 1:
        raise InvalidInputError(
            f"the server at {client.base_url} serves {len(names)} models ({', '.join(names) or 'none listed'})",
            hint='name one: "model" in llamatasks-openai.json or LLAMATASKS_OPENAI_MODEL',
        )
    return names[0]


def _choices(response: dict[str, Any], expected: int) -> list[dict[str, Any]]:
    choices = response.get("choices")
    if not isinstance(choices, list) or len(choices) != expected:
        got = len(choices) if isinstance(choices, list) else "no"
        raise ServerFailedError(f"the server answered {got} choices for {expected} prompts")
    return sorted(choices, key=lambda c: c.get("index", 0))


def _returned_token_ids(choice: dict[str, Any]) -> list[int] | None:
    """Generated ids when the server spelled its tokens as ``token_id:N``; else None."""
    tokens = (choice.get("logprobs") or {}).get("tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) and t.startswith(_TOKEN_ID_PREFIX) for t in tokens):
        return None
    return [int(t[len(_TOKEN_ID_PREFIX):]) for t in tokens]


def _token_logprobs(choice: dict[str, Any], count: int) -> list[float]:
    """The first ``count`` generated tokens' log-probabilities where the server sent them; else none."""
    values = (choice.get("logprobs") or {}).get("token_logprobs")
    if not isinstance(values, list) or len(values) < count or \
            not all(isinstance(v, (int, float)) for v in values[:count]):
        return []
    return [float(v) for v in values[:count]]


def _tail_logprobs(logprobs: dict[str, Any], echoed: str, sent: str, cont: str) -> list[Any] | None:
    """The log-probabilities of the echoed tokens that spell ``cont`` at the end of the prompt ``sent``.

    Read from the end, by the token strings: llama-cpp-python's server leaves
    special tokens (a chat template's) out of the echoed tokens and counts
    ``text_offset`` without them, so offsets into the prompt's text point at the
    wrong tokens. The generated tail (the echoed text after ``sent``) is
    dropped first. None where the strings do not line up (or are not sent).
    """
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    if not tokens or not values or len(tokens) != len(values) or not echoed.startswith(sent):
        return None
    generated = echoed[len(sent):]
    end, tail = len(tokens), ""
    while end > 0 and len(tail) < len(generated):
        end -= 1
        tail = str(tokens[end]) + tail
    start, text = end, ""
    while start > 0 and len(text) < len(cont):
        start -= 1
        text = str(tokens[start]) + text
    return list(values[start:end]) if tail == generated and text == cont else None
