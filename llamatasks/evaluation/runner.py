"""Run a model over a labelled file and score it: the engine behind ``llamatasks eval``."""

from __future__ import annotations

import time
from importlib import metadata
from pathlib import Path
from typing import Any, cast, get_args

from llamatasks.errors import InvalidInputError

from .data import RecordT, load_examples, resolve_task
from .evaluators import TASK_SPECS, RunOptions, TaskSpec
from .predictions import TaskModel, progress_bar
from .report import EvalMethod, EvalReport


def run_eval(
    task: str,
    data: Path | str,
    *,
    model: str | TaskModel | None = None,
    backend: str | None = None,
    method: EvalMethod = "llamatasks",
    limit: int | None = None,
    batch_size: int = 8,
    max_words: int | None = None,
    progress: bool | None = None,
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
        method: ``llamatasks`` runs the typed tasks; ``naive`` asks in free text and parses.
        limit: Use only the first ``limit`` examples.
        batch_size: Inputs per task call (the naive baseline sends one prompt at a time).
        max_words: Summary word budget; by default the mean reference length, rounded.
        progress: Show a progress bar; ``None`` shows it only when stderr is a terminal.

    Returns:
        The report: metrics, per-group breakdown, settings and timing.

    Raises:
        InvalidInputError: Unknown task or method, bad options, or a malformed data file.
    """
    options = check_options(method, batch_size, max_words, progress)
    spec: TaskSpec[Any] = TASK_SPECS[resolve_task(task)]
    return _run(spec, Path(data), model, backend, options, limit)


def _run(
    spec: TaskSpec[RecordT],
    data: Path,
    model: str | TaskModel | None,
    backend: str | None,
    options: RunOptions,
    limit: int | None,
) -> EvalReport:
    """Load the examples, then the model; predict, score and time the run."""
    examples = load_examples(data, spec.record_type, limit=limit)
    loaded = resolve_model(model, backend)
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
        settings=outcome.settings | {"limit": limit},
        seconds=time.perf_counter() - started,
        llamatasks_version=llamatasks_version(),
    )


def check_options(method: str, batch_size: int, max_words: int | None, progress: bool | None) -> RunOptions:
    """Validate the run options before anything is loaded.

    Raises:
        InvalidInputError: An unknown method, or a batch size or word budget below 1.
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
    return RunOptions(cast(EvalMethod, method), batch_size, max_words, progress)


def resolve_model(model: str | TaskModel | None, backend: str | None) -> TaskModel:
    """Load a model by name (``None``: the default model), or pass an already loaded one through.

    Raises:
        InvalidInputError: ``backend`` was given with an already loaded model.
    """
    if model is None or isinstance(model, str):
        import llamatasks

        loaded: TaskModel = llamatasks.load(model, backend=backend)
        return loaded
    if backend is not None:
        raise InvalidInputError(
            "backend only applies to a model given by name", hint="pass backend to llamatasks.load() instead"
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
