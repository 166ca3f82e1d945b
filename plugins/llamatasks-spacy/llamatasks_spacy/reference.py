"""The model a component's config names, checked when the component is built and loaded on first use.

spaCy saves a pipeline's config with it (``nlp.to_disk``), so this reference, not the weights, is
what a saved pipeline holds: ``spacy.load`` builds the components from it again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llamatasks
from llamatasks.errors import ModelNotFoundError
from llamatasks.plugins import InvalidInputError, LlamaTasksError, default_registry

# The devices the built-in backends accept (torch also takes mps); anything else fails there too.
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")



@contextmanager
def naming_component(factory: str, name: str) -> Iterator[None]:
    """Re-raise llamatasks errors with the component they concern, keeping their type and hint."""
    try:
        yield
    except LlamaTasksError as exc:
        raise type(exc)(f"component {name!r} ({factory}): {exc.message}", hint=exc.hint) from exc


@dataclass(frozen=True)
class ModelReference:
    """Which llamatasks model a component runs: ``model`` (a path; None for the default), where and how.

    Attributes:
        model: A Hugging Face-format folder or ``.gguf`` file; None for ``LLAMATASKS_MODEL`` or the
            embedded default model.
        backend: A registered llamatasks backend (``torch``, ``onnx``...); None lets llamatasks choose.
        device: ``auto``, ``cpu``, ``mps`` or ``cuda[:N]``.
        batch_size: Texts per forward pass inside one list call; None for llamatasks' default.
    """

    model: str | None = None
    backend: str | None = None
    device: str = "auto"
    batch_size: int | None = None

    def check(self) -> ModelReference:
        """This reference, or the llamatasks error that loading it would raise later (cheap checks only)."""
        if self.model is not None and not Path(self.model).expanduser().exists():
            raise ModelNotFoundError(f"model path {self.model!r} does not exist",
                                     hint="pass a Hugging Face-format folder or a .gguf file, or null for the "
                                          "default model (models are never downloaded)")
        if self.backend is not None:
            default_registry().backend(self.backend)  # UnknownBackendError, listing the registered ones
        if not _DEVICE.fullmatch(self.device):
            raise InvalidInputError(f"unknown device {self.device!r}", hint="use 'auto', 'cpu' or 'cuda[:N]'")
        if self.batch_size is not None and (isinstance(self.batch_size, bool) or self.batch_size < 1):
            raise InvalidInputError(f"batch_size must be a positive integer, got {self.batch_size!r}",
                                    hint="texts per forward pass; null for llamatasks' default")
        return self

    def load(self) -> llamatasks.Model:
        """The loaded model; without a batch size it is llamatasks' process-wide cached one (``get_model``)."""
        if self.batch_size is None:
            return llamatasks.get_model(self.model, self.backend, self.device)
        return llamatasks.load(self.model, backend=self.backend, device=self.device, batch_size=self.batch_size)


def task_options(task: str, **values: Any) -> Any:
    """The registered task's options for ``values``, validated by the task itself (InvalidInputError)."""
    return default_registry().task(task).Options.parse(values)
