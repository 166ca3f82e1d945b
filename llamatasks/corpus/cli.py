"""``llamatasks batch TASK --input FILE --output FILE`` and ``llamatasks cache info|clear``.

``batch`` has one subcommand per registered task (plugins' tasks included),
whose flags are the task's ``Options`` fields, as for the task commands.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

import typer

from llamatasks.corpus.job import JobSpec, Processor, run_job
from llamatasks.corpus.mapping import DEFAULT_BATCH_SIZE
from llamatasks.errors import InvalidInputError
from llamatasks.tasks.inputs import positive_int
from llamatasks.tasks.options import TaskOptions, flag_of

batch_app = typer.Typer(name="batch", no_args_is_help=True,
                        help="Run a task over a .jsonl, .csv, .parquet or .txt file, resumably.")
cache_app = typer.Typer(name="cache", no_args_is_help=True, help="The result cache: show or clear it.")

_COMMON: list[tuple[str, Any, Any]] = [
    ("input", Path, typer.Option(..., "--input", "-i", help="Input file: .jsonl, .csv, .parquet or .txt.")),
    ("output", Path, typer.Option(..., "--output", "-o", help="Output file: .jsonl, .csv or .parquet.")),
    ("text_field", str, typer.Option("text", "--field", help="The text column (not for .txt).")),
    ("id_field", str | None, typer.Option(None, "--id-field", help="The id column (default: the row number).")),
    ("model", str | None, typer.Option(None, "--model", "-m", help="Model folder or .gguf (default: SmolLM2).")),
    ("backend", str | None, typer.Option(None, "--backend", "-b", help="Backend name.")),
    ("device", str, typer.Option("auto", "--device", help="auto, cpu or cuda.")),
    ("resume", bool, typer.Option(False, "--resume", help="Continue a job that was interrupted.")),
    ("overwrite", bool, typer.Option(False, "--overwrite", help="Replace an existing output and start again.")),
    ("no_cache", bool, typer.Option(False, "--no-cache", help="Neither read nor write the result cache.")),
    ("batch_size", int, typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", help="Texts per task call.")),
    ("shard_size", int, typer.Option(256, "--shard-size", help="Rows per checkpoint shard.")),
    ("engine", str, typer.Option("local", "--engine", help="local (this process) or ray (Ray Data actors).")),
    ("address", str | None, typer.Option(None, "--address", help="Ray cluster address (auto: the running one).")),
    ("concurrency", int, typer.Option(2, "--concurrency", help="Ray actors (model copies), with --engine ray.")),
    ("num_gpus", float, typer.Option(0.0, "--num-gpus", help="GPUs per Ray actor, with --engine ray.")),
]


def add_batch_commands(app: typer.Typer) -> None:
    """Add the ``batch`` group (a subcommand per registered task) and the ``cache`` group to ``app``."""
    from llamatasks.plugins.manager import default_registry

    for name, task in default_registry().tasks.items.items():
        if not any(info.name == name for info in batch_app.registered_commands):
            _batch_command(name, task.Options, task.description or f"Run {name} over a file.")
    app.add_typer(batch_app, name="batch")
    app.add_typer(cache_app, name="cache")


def _batch_command(name: str, options_type: type[TaskOptions], help_text: str) -> None:
    from llamatasks.cli import _from_cli, _param, _parameter

    fields = options_type.model_fields
    params = [_as_option(options_type, _parameter(options_type, f)) for f in fields]
    params += [_param(p, t, d) for p, t, d in _COMMON]

    def command(**values: Any) -> None:
        options = {f: _from_cli(options_type, f, values.pop(f)) for f in fields}
        run_batch_command(name, {k: v for k, v in options.items() if v is not None}, **values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = f"{name.capitalize()} every row of --input ({help_text}); resumable, cached."
    batch_app.command(name)(command)


def _as_option(options_type: type[TaskOptions], param: inspect.Parameter) -> inspect.Parameter:
    """A positional task field (``answer``'s question) becomes ``--question``: the texts come from the file."""
    if not flag_of(options_type, param.name).positional:
        return param
    flag = f"--{param.name.replace('_', '-')}"
    required = options_type.model_fields[param.name].is_required()
    return param.replace(default=typer.Option(... if required else None, flag, help=param.default.help))


def run_batch_command(task: str, options: dict[str, Any], *, input: Path, output: Path, text_field: str,
                      id_field: str | None, model: str | None, backend: str | None, device: str, resume: bool,
                      overwrite: bool, no_cache: bool, batch_size: int, shard_size: int, engine: str,
                      address: str | None, concurrency: int, num_gpus: float) -> None:
    """The body of ``llamatasks batch TASK``: check everything, run the job, print the summary line."""
    from llamatasks.plugins.manager import default_registry

    positive_int("batch_size", batch_size)
    positive_int("shard_size", shard_size)
    if engine not in ("local", "ray"):
        raise InvalidInputError(f"unknown engine {engine!r}", hint="use --engine local or --engine ray")
    chosen = default_registry().task(task)
    chosen.Options.parse(options)  # a bad option fails before anything is read or loaded
    spec = JobSpec(task=task, input=input, output=output, options=options, field=text_field, id_field=id_field,
                   model=model, backend=backend, shard_size=shard_size)

    def processor() -> Processor:
        os.environ.setdefault("LLAMATASKS_NO_PROGRESS", "1")  # the job's bar replaces the runtime's per-batch bars
        if engine == "ray":
            from llamatasks.ray import ray_processor

            return ray_processor(task, options, model=model, backend=backend, device=device,
                                 cache=not no_cache, batch_size=batch_size, concurrency=concurrency,
                                 num_gpus=num_gpus, address=address)
        from llamatasks.api import get_model
        from llamatasks.corpus.engines import local_processor
        from llamatasks.corpus.mapping import TaskJob

        job = TaskJob(get_model(model, backend, device), task, options, cache=not no_cache)
        return local_processor(job, batch_size)

    summary = run_job(spec, processor, resume=resume, overwrite=overwrite,
                      result_schema=chosen.result_type.model_json_schema())
    typer.echo(summary.line(output))


@cache_app.command("info")
def cache_info(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Where the result cache is, how many results it holds (by task) and its size."""
    from llamatasks.corpus.cache import ResultCache

    info = ResultCache().info()
    if as_json:
        print(json.dumps({"path": str(info.path), "entries": info.entries, "bytes": info.bytes,
                          "by_task": info.by_task}, indent=2))
        return
    typer.echo(f"{info.path}: {info.entries} results, {info.bytes / 1e6:.1f} MB")
    for task, count in sorted(info.by_task.items()):
        typer.echo(f"  {task:<12} {count}")


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete every cached result."""
    from llamatasks.corpus.cache import ResultCache

    cache = ResultCache()
    typer.echo(f"removed {cache.clear()} results from {cache.path}")
