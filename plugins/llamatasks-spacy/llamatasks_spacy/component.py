"""What the three components share: a lazily loaded model, batching into list calls, spaCy's error handler."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from spacy.tokens import Doc
from spacy.util import minibatch, raise_error

import llamatasks
from llamatasks.plugins import InvalidInputError
from llamatasks_spacy.reference import ModelReference

ResultT = TypeVar("ResultT")
ErrorHandler = Callable[[str, Any, list[Doc], Exception], Any]


class LlamaTasksComponent(ABC, Generic[ResultT]):
    """A spaCy pipeline component that runs one llamatasks task on each doc's text.

    ``nlp(text)`` makes a list call of one text; ``nlp.pipe(texts, batch_size=n)`` one list call per
    ``n`` docs, which llamatasks runs in forward passes of the reference's ``batch_size``. The model
    is loaded on the first doc, once per component (``get_model``). Errors from llamatasks reach
    spaCy's error handler as they are (``nlp.set_error_handler`` can skip a failing batch instead).
    """

    def __init__(self, name: str, reference: ModelReference) -> None:
        self.name = name
        self.reference = reference
        self._model: llamatasks.Model | None = None
        self._loading = threading.Lock()
        self._error_handler: ErrorHandler = raise_error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, {self.reference})"

    def __getstate__(self) -> dict[str, Any]:
        # nlp.pipe(n_process=...) pickles components where processes are spawned (macOS, Windows):
        # each process loads its own model from the reference.
        return {**self.__dict__, "_model": None, "_loading": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _loading=threading.Lock())

    # A method, not a ``model`` property: spaCy probes ``proc.model`` (its thinc model) with hasattr,
    # e.g. in the runtime Protocol checks of ``add_pipe``, and a property would load the model there.
    def get_model(self) -> llamatasks.Model:
        """The llamatasks model, loaded on the first call (the first doc) and reused after."""
        with self._loading:
            if self._model is None:
                self._model = self.reference.load()
            return self._model

    @property
    @abstractmethod
    def labels(self) -> tuple[str, ...]:
        """The labels this component assigns."""

    @abstractmethod
    def predict(self, texts: list[str]) -> list[ResultT]:
        """One llamatasks list call: a result per text, in order."""

    @abstractmethod
    def set_annotation(self, doc: Doc, result: ResultT) -> None:
        """Write one result onto its doc."""

    def __call__(self, doc: Doc) -> Doc:
        (result,) = self.predict([doc.text])
        self.set_annotation(doc, result)
        return doc

    def pipe(self, docs: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Annotate ``docs`` in batches of ``batch_size``, each batch one llamatasks list call."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            # spaCy's minibatch yields nothing for 0: every doc would vanish without a word.
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        for batch in minibatch(docs, size=batch_size):
            try:
                for doc, result in zip(batch, self.predict([doc.text for doc in batch]), strict=True):
                    self.set_annotation(doc, result)
            except Exception as exc:  # noqa: BLE001 - spaCy's handler decides; its default re-raises exc as it is
                self._error_handler(self.name, self, batch, exc)
            else:
                yield from batch

    def get_error_handler(self) -> ErrorHandler:
        """The function called with (name, component, batch, exception) when a batch fails."""
        return self._error_handler

    def set_error_handler(self, error_handler: ErrorHandler) -> None:
        """Set by ``nlp.set_error_handler``; the default re-raises the exception."""
        self._error_handler = error_handler
