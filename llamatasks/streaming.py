"""Streaming: text pieces as they are decoded, and the task's typed result at the end.

A streaming call (``m.chat(prompt, stream=True)``) runs the task as usual, in a
worker thread, with a ``TokenSink`` set in a context variable for that call
only. ``Runtime.generate`` finds it there and hands the step loop
(``engine.stepping``) a listener for the batch it runs; the loop reports every
token it keeps, the sink detokenizes each row incrementally and the pieces go
to the caller's ``TextStream``. Nothing is shared between calls: another
thread's call sees no sink and decodes as always.

Rows are streamed in order: the first row of a generate call live, later rows
buffered until the rows before them end (a translation's sentences come one
after another). An engine that does not decode through the step loop (a
third-party backend, or beam search, whose best hypothesis is only known at the
end) reports no tokens; its rows arrive whole when the engine returns.

The pieces are the model's raw text. The final result applies the task's own
post-processing (a summary cut to ``max_words``, a translation's first line),
so it may differ from the concatenated pieces; read ``TextStream.result``.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from llamatasks.errors import InvalidInputError

if TYPE_CHECKING:
    import asyncio

    from llamatasks.engine.base import Engine, GenerateRequest, GenerationOutput

R = TypeVar("R")

#: The tasks that can stream (their results are generated text).
STREAMABLE_TASKS = frozenset({"chat", "summarize", "translate"})

#: A listener the step loop calls with ``(row in the batch, token id)`` for every token a row keeps.
StepListener = Callable[[int, int], None]

_sink: contextvars.ContextVar[TokenSink | None] = contextvars.ContextVar("llamatasks_token_sink", default=None)
_listener: contextvars.ContextVar[StepListener | None] = contextvars.ContextVar(
    "llamatasks_step_listener", default=None)


def current_listener() -> StepListener | None:
    """The listener of the streaming call running in this context (None: not streaming)."""
    return _listener.get()


class IncrementalDecoder:
    """Text of a growing list of token ids, piece by piece, never splitting a character.

    Decoding each new token alone would drop the space that SentencePiece
    tokenizers encode in a word's first piece and break multi-byte characters
    spread over byte tokens; so the text is decoded from a few tokens back
    (``prefix``) and only what goes beyond their own text is new. A piece that
    ends in U+FFFD (an incomplete UTF-8 sequence) waits for the next token.
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self.ids: list[int] = []
        self._prefix = 0  # where the decoded window starts
        self._read = 0  # tokens already turned into emitted text

    def push(self, token: int) -> str:
        """Add ``token``; the new text it completes (may be empty)."""
        self.ids.append(token)
        return self._advance(final=False)

    def extend(self, tokens: Sequence[int]) -> str:
        """Add ``tokens`` at once (a row that arrives whole); all the text they complete."""
        self.ids.extend(tokens)
        return self._advance(final=False)

    def flush(self) -> str:
        """What is still held back at the end of the row (an incomplete character, as decoded)."""
        return self._advance(final=True)

    def _advance(self, final: bool) -> str:
        if self._read == len(self.ids):
            return ""
        before = self._decode(self.ids[self._prefix:self._read])
        text = self._decode(self.ids[self._prefix:])
        if len(text) <= len(before) or (text.endswith("\ufffd") and not final):
            return ""
        self._prefix, self._read = self._read, len(self.ids)
        return text[len(before):]


class TokenSink:
    """Where one streaming call's text goes: ``emit(piece)``, rows of each generate call in order."""

    def __init__(self, decode: Callable[[list[int]], str], emit: Callable[[str], None]) -> None:
        self.decode = decode
        self._emit = emit
        self._lock = threading.Lock()  # the step loop and the runtime may report from different threads
        self._started = False

    def rows(self, count: int) -> _OrderedRows:
        """The streamed rows of one generate call of ``count`` prompts."""
        return _OrderedRows(count, self)

    def emit(self, piece: str) -> None:
        """Pass ``piece`` on; the call's leading whitespace is dropped (it is not part of the answer)."""
        if not self._started:
            piece = piece.lstrip()
            self._started = bool(piece)
        if piece:
            self._emit(piece)


def generate_streamed(engine: Engine, request: GenerateRequest, rows: list[int],
                      stream: _OrderedRows | None) -> list[GenerationOutput]:
    """``engine.generate(request)``; with a stream, its batch row ``b`` (the call's row ``rows[b]``) streamed."""
    if stream is None:
        return engine.generate(request)
    token = _listener.set(lambda b, t: stream.token(rows[b], t))
    try:
        outputs = engine.generate(request)
    finally:
        _listener.reset(token)
    for row, out in zip(rows, outputs):
        stream.finished(row, out.token_ids)
    return outputs


def rows_to_stream(count: int) -> _OrderedRows | None:
    """The streamed rows of a generate call of ``count`` prompts, where this context streams."""
    sink = _sink.get()
    return None if sink is None else sink.rows(count)


class _OrderedRows:
    """The rows of one generate call: the first unfinished row streams live, later ones wait their turn."""

    def __init__(self, count: int, sink: TokenSink) -> None:
        self._sink = sink
        self._decoders = [IncrementalDecoder(sink.decode) for _ in range(count)]
        self._held: list[list[str]] = [[] for _ in range(count)]
        self._done = [False] * count
        self._live = 0  # the row whose text goes out as it comes
        self._spaced = 0  # the last row given its joining space

    def token(self, row: int, token: int) -> None:
        """The step loop kept ``token`` for ``row``."""
        with self._sink._lock:
            if not self._done[row]:
                self._out(row, self._decoders[row].push(token))

    def finished(self, row: int, ids: Sequence[int]) -> None:
        """Row ``row`` ended with ``ids``; what the listener never saw (a non-streaming engine) is added now."""
        with self._sink._lock:
            decoder = self._decoders[row]
            if list(ids[:len(decoder.ids)]) != decoder.ids:  # not what was streamed: the ids decide
                decoder = self._decoders[row] = IncrementalDecoder(self._sink.decode)
            self._out(row, decoder.extend(ids[len(decoder.ids):]) + decoder.flush())
            self._done[row] = True
            while self._live < len(self._done) and self._done[self._live]:
                self._live += 1
                if self._live < len(self._done):
                    held, self._held[self._live] = self._held[self._live], []
                    for piece in held:
                        self._out(self._live, piece)

    def _out(self, row: int, piece: str) -> None:
        if not piece:
            return
        if row != self._live:
            self._held[row].append(piece)
            return
        if row != self._spaced and self._sink._started:  # a later row's first piece: rows join with a space
            piece = " " + piece.lstrip()
        self._spaced = row
        self._sink.emit(piece)


class TextStream(Generic[R]):
    """The pieces of one streaming call, for ``for`` or ``async for``; ``result`` once it ended.

    The call runs in its own thread from the moment the stream is created, so
    neither kind of consumer blocks the other's work. An error the task raises is
    raised from the iteration (and from ``result``).
    """

    def __init__(self, run: Callable[[], R], decode: Callable[[list[int]], str]) -> None:
        self._items: deque[tuple[str, Any]] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._result: R | None = None
        self._error: BaseException | None = None
        self._ended = False
        sink = TokenSink(decode, lambda piece: self._put("piece", piece))
        context = contextvars.copy_context()
        context.run(_sink.set, sink)
        thread = threading.Thread(target=context.run, args=(self._work, run), daemon=True, name="llamatasks-stream")
        thread.start()

    def _work(self, run: Callable[[], R]) -> None:
        try:
            self._put("result", run())
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            self._put("error", exc)

    def _put(self, kind: str, value: Any) -> None:
        with self._ready:
            self._items.append((kind, value))
            self._ready.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    @property
    def result(self) -> R:
        """The task's typed result; waits for the call to end."""
        for _ in self:
            pass
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def __iter__(self) -> Iterator[str]:
        while True:
            with self._ready:
                while not self._items and not self._ended:
                    self._ready.wait()
                item = self._items.popleft() if self._items else None
            piece = self._take(item)
            if piece is None:
                return
            yield piece

    async def _next_item(self) -> tuple[str, Any] | None:
        import asyncio  # here: ``import llamatasks`` stays cheap

        while True:
            with self._lock:
                if self._items or self._ended:
                    return self._items.popleft() if self._items else None
                event = asyncio.Event()
                self._waiters.append((asyncio.get_running_loop(), event))
            await event.wait()

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            piece = self._take(await self._next_item())
            if piece is None:
                return
            yield piece

    def _take(self, item: tuple[str, Any] | None) -> str | None:
        """The piece in ``item``; None at the end (after recording the result or the error)."""
        if item is None:
            return None
        kind, value = item
        if kind == "piece":
            return str(value)
        with self._lock:
            self._ended = True
        if kind == "result":
            self._result = value
            return None
        self._error = value
        raise value


def stream_task(model: Any, task: str, text: Any, options: dict[str, Any]) -> TextStream[Any]:
    """A ``TextStream`` of ``model.run(task, text, **options)`` (one text; a streaming task)."""
    if task not in STREAMABLE_TASKS:
        raise InvalidInputError(f"{task} cannot stream", hint=f"stream one of: {', '.join(sorted(STREAMABLE_TASKS))}")
    if not isinstance(text, str):
        raise InvalidInputError("stream=True takes one text, not a list",
                                hint="stream texts one at a time, or pass the list without stream=True")
    model.registry.task(task).Options.parse(options)  # a bad option fails here, not in the stream
    return TextStream(lambda: model.run(task, text, **options), model.tokenizer.decode)
