"""Run a model over a labelled file and score it: the engine behind ``llamatasks eval``."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, cast, get_args

from llamatasks.errors import BackendUnavailableError, InvalidInputError
from llamatasks.tasks.inputs import beam_count

from .data import RecordT, load_examples, resolve_task
from .evaluators import TASK_SPECS, RunOptions, TaskSpec
from .predictions import TaskModel, progress_bar
from .report import EvalMethod, EvalReport
from .split import Split, check_split, select_split


def run_eval(
    task: str,
    data: Path | str,
    *,
    model: str | TaskModel | None = None,
    backend: str | None = None,
    device: str = "auto",
    method: EvalMethod = "llamatasks",
    limit: int | None = None,
    batch_size: int = 8,
    max_words: int | None = None,
    num_beams: int | None = None,
    progress: bool | None = None,
    split: Split | str = "all",
) -> EvalReport:
    """Evaluate a model on a labelled JSON Lines file.

    The file is read and validated before the model loads, so a bad file fails fast.

    Args:
        task: ``sentiment``, ``ner``, ``summarize`` or ``translate`` (``summarization`` and
            ``translation`` are accepted too).
        data: The labelled ``.jsonl`` file (format in ``llamatasks.evaluation.data``).
        model: A model name or path for ``llamatasks.load``, ``None`` for the default model, or
            an already loaded model.
        backend: Backend for ``llamatasks.load``; only with a model given by name.
        device: Device for ``llamatasks.load`` (``auto``, ``cpu``, ``cuda``); only with a model given by name.
        method: ``llamatasks`` runs the typed tasks; ``naive`` asks in free text and parses.
        limit: Use only the first ``limit`` examples (of the part chosen by ``split``).
        batch_size: Inputs per task call, and the batch size of a model loaded here (the naive
            baseline sends one prompt at a time).
        max_words: Summary word budget; by default the mean reference length, rounded. The naive
            baseline does not use it: its prompt asks for one sentence.
        num_beams: Beam search width for ``summarize`` and ``translate`` (1 decodes greedily);
            by default the task's own ``Options`` default (1: greedy).
        progress: Show a progress bar; ``None`` shows it only when stderr is a terminal.
        split: ``tune`` or ``check``: only that part of the file (``llamatasks.evaluation.split``;
            choices are made on ``tune``, figures reported from ``check``); ``all``: every example.

    Returns:
        The report: metrics, per-group breakdown, settings and timing.

    Raises:
        InvalidInputError: Unknown task, method or split, bad options (``num_beams`` for a task or
            method that does not decode with beams), a malformed data file, or an empty part.
        BackendUnavailableError: A package the task's metrics need (the ``eval`` extra) is missing.
    """
    spec: TaskSpec[Any] = TASK_SPECS[resolve_task(task)]
    options = check_options(method, batch_size, max_words, progress, num_beams, spec)
    part = check_split(split)
    return _run(spec, Path(data), lambda: resolve_model(model, backend, device, batch_size), options, limit, part)


def _run(
    spec: TaskSpec[RecordT],
    data: Path,
    get_model: Callable[[], TaskModel],
    options: RunOptions,
    limit: int | None,
    split: Split = "all",
) -> EvalReport:
    """Check the file and the metric packages, then load the model; predict, score and time the run."""
    if limit is not None and limit < 1:  # before reading: load_examples only sees the whole file
        raise InvalidInputError(f"limit must be at least 1, got {limit}", hint="leave it out to use every example")
    examples = select_split(load_examples(data, spec.record_type), split)[:limit]
    check_dependencies(spec.needs)
    loaded = get_model()
    started = time.perf_counter()
    with progress_bar(len(examples), f"eval {spec.task}", options.progress) as bar:
        outcome = spec.evaluate(loaded, examples, options, bar)
    return EvalReport(
        task=spec.task,
        method=options.method,
        model=loaded.profile.name,
        backend=loaded.backend_name,
        data=str(data),
        n_examples=len(examples),
        metrics=outcome.scores.metrics,
        group_by=outcome.scores.group_by,
        groups=outcome.scores.groups,
        settings=outcome.settings | {"limit": limit, "split": split},
        seconds=time.perf_counter() - started,
        llamatasks_version=llamatasks_version(),
    )


def check_options(method: str, batch_size: int, max_words: int | None, progress: bool | None,
                  num_beams: int | None, spec: TaskSpec[Any]) -> RunOptions:
    """Validate the run options before anything is loaded; resolve the beam width of ``spec``'s task.

    Raises:
        InvalidInputError: An unknown method, a batch size or word budget below 1, or a beam
            width out of range or given where nothing decodes with beams.
    """
    methods = get_args(EvalMethod)
    if method not in methods:
        raise InvalidInputError(f"unknown method {method!r}", hint=f"choose one of: {', '.join(methods)}")
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}", hint="the default is 8")
    if max_words is not None and max_words < 1:
        raise InvalidInputError(
            f"max_words must be at least 1, got {max_words}", hint="leave it out to use the mean reference length"
        )
    if spec.default_beams is not None and method != "naive":
        num_beams = beam_count(num_beams, spec.default_beams)
    elif num_beams is not None:
        raise InvalidInputError(f"num_beams does not apply to the {method} {spec.task} evaluation",
                                hint="beam search is used by the llamatasks summarize and translate tasks")
    return RunOptions(cast(EvalMethod, method), batch_size, max_words, progress, num_beams)


def check_dependencies(modules: Sequence[str]) -> None:
    """Fail before any model work when a metric package is missing, not after the predictions.

    Raises:
        BackendUnavailableError: A module is not installed (the hint names the extra to install).
    """
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise BackendUnavailableError(
            f"scoring this task needs {', '.join(missing)}, which is not installed",
            hint="pip install 'llamatasks[eval]'",
        )


def resolve_model(model: str | TaskModel | None, backend: str | None, device: str, batch_size: int) -> TaskModel:
    """Load a model by name (``None``: the default model), or pass an already loaded one through.

    Raises:
        InvalidInputError: ``backend`` or ``device`` was given with an already loaded model.
    """
    if model is None or isinstance(model, str):
        import llamatasks

        loaded: TaskModel = llamatasks.load(model, backend=backend, device=device, batch_size=batch_size)
        return loaded
    if backend is not None or device != "auto":
        raise InvalidInputError(
            "backend and device only apply to a model given by name",
            hint="pass them to llamatasks.load() instead",
        )
    return model


def llamatasks_version() -> str:
    """The llamatasks version: ``llamatasks.__version__``, else the installed distribution's, else ``"unknown"``."""
    import llamatasks

    version = getattr(llamatasks, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return metadata.version("llamatasks")
    except metadata.PackageNotFoundError:
        return "unknown"
