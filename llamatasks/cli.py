"""The ``llamatasks`` command line.

Every llamatasks error ends the command with its one-line message and hint
on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import inspect
import json
import sys
import typing
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llamatasks.errors import LlamaTasksError
from llamatasks.streaming import STREAMABLE_TASKS
from llamatasks.tasks.answer import AnswerOptions
from llamatasks.tasks.chat import ChatOptions
from llamatasks.tasks.classify import ClassifyOptions, SentimentOptions
from llamatasks.tasks.inputs import read_text
from llamatasks.tasks.ner import NerOptions
from llamatasks.tasks.options import TaskOptions, flag_of
from llamatasks.tasks.summarize import SummarizeOptions
from llamatasks.tasks.translate import TranslateOptions

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Typed NLP tasks on LLaMA-family models (default: embedded SmolLM2-135M-Instruct).")
out = Console()
err = Console(stderr=True)

ModelOpt = typer.Option(None, "--model", "-m", help="Model folder or .gguf (default: LLAMATASKS_MODEL or SmolLM2).")
BackendOpt = typer.Option(None, "--backend", "-b", help="Backend name (default: chosen from the model folder).")
DeviceOpt = typer.Option("auto", "--device", help="auto, cpu or cuda.")
FileOpt = typer.Option(None, "--file", "-f", help="Read the text from this file.")
JsonOpt = typer.Option(False, "--json", help="Print the result as JSON.")
ShowPromptOpt = typer.Option(False, "--show-prompt", help="Print the exact prompt(s) sent, then exit.")
StreamOpt = typer.Option(False, "--stream", help=(
    "Print the text as it is generated (with --json: the pieces on stderr, the result on stdout)."))
ImageOpt = typer.Option(None, "--image", "-i", help=(
    "An image file the task is about (repeat for several; vision models: LLaMA 3.2 Vision, Llama 4)."))
def _run_task(task: str, text: str | None, file: Path | None, model: str | None, backend: str | None,
              device: str, as_json: bool, show_prompt: bool, stream: bool = False, **options: Any) -> None:
    from llamatasks.loading import load

    body = read_text(text, file)
    m = load(model, backend=backend, device=device)
    if show_prompt:
        for prompt in m.prompt_for(task, body, **options):
            out.rule(f"{len(prompt.ids)} tokens")
            out.print(prompt.text, markup=False, highlight=False)
            out.print(prompt.ids, markup=False)
        return
    if stream:
        _stream(m.run(task, body, stream=True, **options), as_json)
        return
    result = m.run(task, body, **options)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        _print_result(task, result)


def _run_image_task(task: str, values: dict[str, Any], options: dict[str, Any], images: list[Path]) -> None:
    """answer/classify/chat about images: ``--image`` given (the text argument is the question or message)."""
    from llamatasks.errors import InvalidInputError
    from llamatasks.loading import load

    text = values.pop("text")
    m = load(values.pop("model"), backend=values.pop("backend"), device=values.pop("device"))
    if task == "classify":
        if text is not None or len(images) != 1:
            raise InvalidInputError("classify --image takes one image and no text")
        result: Any = m.classify(image=images[0], labels=options["labels"])
    elif task == "answer":
        result = m.answer(options["question"] if text is None else f"{options['question']} {text}", image=images)
    else:
        result = m.chat(read_text(text, values.pop("file")), images=images,
                        **{k: v for k, v in options.items() if v is not None})
    if values.pop("as_json"):
        print(result.model_dump_json(indent=2))
    else:
        _print_result("classify" if task == "classify" else "chat", result)


def _stream(pieces: Any, as_json: bool) -> None:
    """Print a ``TextStream``'s pieces as they come, then (``--json``) its result."""
    to = sys.stderr if as_json else sys.stdout
    for piece in pieces:
        to.write(piece)
        to.flush()
    to.write("\n")
    if as_json:
        print(pieces.result.model_dump_json(indent=2))


def _print_result(task: str, result: Any) -> None:
    if task == "ner":
        table = Table("text", "label", "start", "end", "score")
        for e in result.entities:
            table.add_row(e.text, e.label, str(e.start), str(e.end), f"{e.score:.2f}")
        out.print(table)
    elif task == "answer":
        out.print(f"{result.text}  [{result.start}:{result.end}]" if result.found else "(no answer found)",
                  markup=False, highlight=False)
    elif task in ("sentiment", "classify"):
        out.print(f"{result.label}  ({result.score:.3f})")
        for label, score in sorted(result.scores.items(), key=lambda kv: -kv[1]):
            out.print(f"  {label:<12} {score:.3f}", markup=False)
    else:
        out.print(result.text, markup=False, highlight=False)


def _task_command(name: str, options_type: type[TaskOptions], help_text: str, text_help: str,
                  target: typer.Typer = app, images: bool = False) -> None:
    """Add ``llamatasks NAME``: its flags are ``options_type``'s fields, then the common ones.

    A field marked ``Flag(positional=True)`` is an argument before the text
    (``answer QUESTION CONTEXT``); a list field takes one value split on its
    ``Flag.split`` (``--labels a,b``; ``A=word`` pairs give a label map where the
    field accepts one). Every flag defaults to None, so the field's own default
    applies and is stated once, in ``Options``.
    """
    fields = options_type.model_fields
    positional = [f for f in fields if flag_of(options_type, f).positional]
    params = [_parameter(options_type, f) for f in positional]
    params.append(_param("text", str | None, typer.Argument(None, help=text_help)))
    params += [_parameter(options_type, f) for f in fields if f not in positional]
    params += [_param(p, t, d) for p, t, d in _COMMON]
    if images:  # --image on answer, classify and chat: the vision path (LLaMA 3.2 Vision, Llama 4)
        params.append(_param("image", list[Path] | None, ImageOpt))
    if name in STREAMABLE_TASKS:
        params.append(_param("stream", bool, StreamOpt))

    def command(**values: Any) -> None:
        options = {f: _from_cli(options_type, f, values.pop(f)) for f in fields}
        paths = values.pop("image", None)
        if paths:
            _run_image_task(name, values, options, paths)
            return
        _run_task(name, values.pop("text"), values.pop("file"), values.pop("model"), values.pop("backend"),
                  values.pop("device"), values.pop("as_json"), values.pop("show_prompt"),
                  stream=values.pop("stream", False), **options)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = help_text
    target.command(name)(command)


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _parameter(options_type: type[TaskOptions], name: str) -> inspect.Parameter:
    field, flag = options_type.model_fields[name], flag_of(options_type, name)
    cli_type = str if flag.split else _scalar(field.annotation)
    required = field.is_required()
    shown = "" if required else f" (default: {_shown(field.default)})"
    help_text = f"{field.description or ''}{shown}"
    if flag.positional:
        return _param(name, cli_type if required else cli_type | None,
                      typer.Argument(... if required else None, help=help_text))
    names = flag.names or (f"--{name.replace('_', '-')}",)
    if flag.split:
        help_text = f"{help_text} Separate values with {flag.split!r}."
    return _param(name, cli_type if required else cli_type | None,
                  typer.Option(... if required else None, *names, help=help_text))


def _scalar(annotation: Any) -> type:
    """The plain type typer parses a field as: int, float, bool or str."""
    candidates = [annotation, *typing.get_args(annotation)]
    for kind in (bool, int, float):
        if kind in candidates:
            return kind
    return str


def _shown(default: Any) -> str:
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return "none" if default is None else str(default)


def _from_cli(options_type: type[TaskOptions], name: str, value: Any) -> Any:
    """A flag's value as the field takes it (a split list, or a label map from ``A=word`` pairs)."""
    separator = flag_of(options_type, name).split
    if value is None or separator is None:
        return value
    parts = [part.strip() for part in value.split(separator)]
    if parts and all("=" in part for part in parts) and "dict" in str(options_type.model_fields[name].annotation):
        return dict(tuple(x.strip() for x in part.split("=", 1)) for part in parts)
    return tuple(parts)


_COMMON: list[tuple[str, Any, Any]] = [
    ("file", Path | None, FileOpt),
    ("model", str | None, ModelOpt),
    ("backend", str | None, BackendOpt),
    ("device", str, DeviceOpt),
    ("as_json", bool, JsonOpt),
    ("show_prompt", bool, ShowPromptOpt),
]

_TEXT = "Text, or '-' for stdin."
_task_command("sentiment", SentimentOptions, "Sentiment probabilities of a text.", _TEXT)
_task_command("classify", ClassifyOptions, "Zero-shot classification into the given labels (of an image: --image).",
              _TEXT, images=True)
_task_command("ner", NerOptions, "Named entities with character offsets.", _TEXT)
_task_command("summarize", SummarizeOptions, "Summarize a text (long documents by map-reduce).", _TEXT)
_task_command("translate", TranslateOptions, "Translate a text.", _TEXT)
_task_command("answer", AnswerOptions, "Extractive answer: a span of the context, with offsets (about an image: "
              "--image, a free-form answer).", "Context text, or '-' for stdin.", images=True)
_task_command("chat", ChatOptions, "Free-form chat with the model (greedy unless --temperature is above 0).",
              "Your message, or '-' for stdin.", images=True)


ImagesArg = typer.Argument(..., help="Image file(s) to caption (one caption each).")
MaxWordsOpt = typer.Option(None, "--max-words", help=(
    "Longest caption in words (default: 30); a longer output is cut at a whole word."))


@app.command()
def describe(images: list[Path] = ImagesArg, max_words: int | None = MaxWordsOpt,
             model: str | None = ModelOpt, backend: str | None = BackendOpt, device: str = DeviceOpt,
             as_json: bool = JsonOpt) -> None:
    """Caption images (vision models: LLaMA 3.2 Vision, Llama 4)."""
    from llamatasks.loading import load

    m = load(model, backend=backend, device=device)
    results = m.describe(list(images), max_words=max_words)
    assert isinstance(results, list)
    for path, result in zip(images, results):
        if as_json:
            print(result.model_dump_json(indent=2))
        else:
            out.print(f"{path}: {result.text}", markup=False, highlight=False)


@app.command()
def info(model: str | None = typer.Argument(None, help="Model folder or .gguf (default: the default model)."),
         as_json: bool = JsonOpt) -> None:
    """Show a model's profile: LLaMA generation, prompt format, stop tokens, context."""
    from llamatasks.loading import load

    m = load(model)
    if as_json:
        print(m.profile.model_dump_json(indent=2))
        return
    table = Table("field", "value", show_header=False)
    for key, value in m.profile.model_dump().items():
        table.add_row(key, str(value))
    table.add_row("gqa", str(m.profile.gqa))
    table.add_row("backend", f"{m.backend_name} ({m.engine.device}, {m.engine.dtype})")
    out.print(table)


@app.command()
def plugins(as_json: bool = JsonOpt) -> None:
    """List plugins: version, hooks, what each registered, and any problem one caused."""
    from llamatasks.plugins import default_registry

    registry = default_registry()
    registry.add_commands(app)  # idempotent; main() has done it already
    infos = registry.plugins()
    if as_json:
        print(json.dumps({"plugins": [asdict(info) for info in infos],
                          "registered": [dict(zip(("kind", "name", "plugin", "description"), row))
                                         for row in _registered_rows(registry)],
                          "problems": [asdict(problem) for problem in registry.problems]}, indent=2))
        return
    table = Table("plugin", "version", "hooks", "registered")
    for info in infos:
        name = f"{info.name} ({info.distribution})" if info.distribution else info.name
        what = ", ".join(info.registered) if info.loaded else "[red]failed to load[/red]"
        table.add_row(escape(name), info.version or "-", ", ".join(info.hooks) or "-", what or "-")
    out.print(table)
    table = Table("kind", "name", "plugin", "description")
    for row in _registered_rows(registry):
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)
    for problem in registry.problems:
        err.print(f"[yellow]plugin {escape(problem.plugin)}: {escape(problem.problem)}[/yellow]")


def _registered_rows(registry: Any) -> list[tuple[str, str, str, str]]:
    """``(kind, name, plugin, description)`` for everything the plugins registered."""
    rows = []
    for kind, named in (("backend", registry.backends), ("task", registry.tasks),
                        ("prompt format", registry.prompt_formats), ("command", registry.commands)):
        for name, item in named.items.items():
            rows.append((kind, name, named.owners[name], _description(item)))
    return rows


def _description(item: Any) -> str:
    text = getattr(item, "description", None) or getattr(item, "help", None)
    callback = getattr(item, "callback", None)
    if not isinstance(text, str) and callback is not None:
        text = (callback.__doc__ or "").strip().splitlines()[0] if callback.__doc__ else ""
    return text if isinstance(text, str) else ""


def add_plugin_commands(target: typer.Typer | None = None) -> None:
    """Add the subcommands plugins contribute through ``register_commands``, then one generated from its
    ``Options`` for every registered task that has no command of its own."""
    from llamatasks.plugins.manager import commands_of, default_registry

    registry = default_registry()
    target = target if target is not None else app
    registry.add_commands(target)
    taken = {name for name, _, _ in commands_of(target)}
    for name, task in registry.tasks.items.items():
        if name not in taken:
            _task_command(name, task.Options, task.description or f"Run the {name} task (a plugin's).", _TEXT,
                          target)


def main() -> None:
    """Entry point: llamatasks errors become one line on stderr and exit code 2."""
    # typer vendors click; BadParameter's base is the usage error that every parsing failure raises.
    usage_error = typer.BadParameter.__mro__[1]
    try:
        add_plugin_commands()
        code = app(standalone_mode=False)  # usage errors come here, to be printed like every other error
    except LlamaTasksError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except usage_error as exc:
        names, ctx = [], exc.ctx
        while ctx is not None and ctx.parent is not None:  # the subcommands, without how the program was started
            names.append(ctx.info_name or "")
            ctx = ctx.parent
        where = " ".join(["llamatasks", *reversed(names)])
        err.print(f"error: {exc.format_message()} (hint: run `{where} --help`)", markup=False, highlight=False,
                  soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err.print("error: aborted", markup=False, highlight=False)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
