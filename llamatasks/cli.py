"""The ``llamatasks`` command line.

Every llamatasks error ends the command with its one-line message and hint
on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llamatasks.errors import InvalidInputError, LlamaTasksError

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
BeamsOpt = typer.Option(None, "--beams", help="Beam search width (default 1: greedy); 4 beams take about twice as long.")
TranslateBeamsOpt = typer.Option(None, "--beams", help=(
    "Beam search width (default 1: greedy with source-contrastive decoding); a wider beam decodes without "
    "the contrast."))


def read_text(text: Optional[str], file: Optional[Path]) -> str:
    """The text a command works on: ``--file``, ``-``/piped standard input, or the argument (for plugin commands too)."""
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read {file}: {exc}", hint="pass a readable UTF-8 text file") from exc
    if text == "-" or (text is None and not sys.stdin.isatty()):
        return sys.stdin.read()
    if text is None:
        raise InvalidInputError("no text given", hint="pass TEXT, --file PATH, or '-' to read standard input")
    return text


def _run_task(task: str, text: Optional[str], file: Optional[Path], model: Optional[str], backend: Optional[str],
              device: str, as_json: bool, show_prompt: bool, **options: Any) -> None:
    from llamatasks.model import load

    body = read_text(text, file)
    m = load(model, backend=backend, device=device)
    if show_prompt:
        for prompt in m.prompt_for(task, body, **options):
            out.rule(f"{len(prompt.ids)} tokens")
            out.print(prompt.text, markup=False, highlight=False)
            out.print(prompt.ids, markup=False)
        return
    result = m.run(task, body, **options)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        _print_result(task, result)


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


@app.command()
def sentiment(text: Optional[str] = typer.Argument(None, help="Text, or '-' for stdin."), file: Optional[Path] = FileOpt,
              model: Optional[str] = ModelOpt, backend: Optional[str] = BackendOpt, device: str = DeviceOpt,
              as_json: bool = JsonOpt, show_prompt: bool = ShowPromptOpt,
              phrasings: Optional[int] = typer.Option(None, "--phrasings", help=(
                  "How many phrasings of the question to score and average (1-4, default 4); 1 is about four "
                  "times faster."))) -> None:
    """Sentiment probabilities of a text."""
    _run_task("sentiment", text, file, model, backend, device, as_json, show_prompt, phrasings=phrasings)


@app.command()
def classify(text: Optional[str] = typer.Argument(None, help="Text, or '-' for stdin."),
             labels: str = typer.Option(..., "--labels", "-l", help="Comma-separated labels."),
             file: Optional[Path] = FileOpt, model: Optional[str] = ModelOpt, backend: Optional[str] = BackendOpt,
             device: str = DeviceOpt, as_json: bool = JsonOpt, show_prompt: bool = ShowPromptOpt) -> None:
    """Zero-shot classification into the given labels."""
    _run_task("classify", text, file, model, backend, device, as_json, show_prompt,
              labels=[x.strip() for x in labels.split(",") if x.strip()])


@app.command()
def ner(text: Optional[str] = typer.Argument(None, help="Text, or '-' for stdin."), file: Optional[Path] = FileOpt,
        labels: Optional[str] = typer.Option(None, "--labels", "-l", help="Comma-separated labels (default PER,ORG,LOC,MISC)."),
        model: Optional[str] = ModelOpt, backend: Optional[str] = BackendOpt, device: str = DeviceOpt,
        as_json: bool = JsonOpt, show_prompt: bool = ShowPromptOpt) -> None:
    """Named entities with character offsets."""
    chosen = [x.strip() for x in labels.split(",") if x.strip()] if labels else None
    _run_task("ner", text, file, model, backend, device, as_json, show_prompt, labels=chosen)


@app.command()
def summarize(text: Optional[str] = typer.Argument(None, help="Text, or '-' for stdin."), file: Optional[Path] = FileOpt,
              max_words: Optional[int] = typer.Option(None, "--max-words", "-w", help="Longest summary (default 40)."),
              beams: Optional[int] = BeamsOpt,
              model: Optional[str] = ModelOpt, backend: Optional[str] = BackendOpt, device: str = DeviceOpt,
              as_json: bool = JsonOpt, show_prompt: bool = ShowPromptOpt) -> None:
    """Summarize a text (long documents by map-reduce)."""
    _run_task("summarize", text, file, model, backend, device, as_json, show_prompt, max_words=max_words,
              num_beams=beams)


@app.command()
def translate(text: Optional[str] = typer.Argument(None, help="Text, or '-' for stdin."),
              target: str = typer.Option(..., "--to", "-t", help="Target language: code or English name."),
              source: Optional[str] = typer.Option(None, "--from", "-s", help="Source language (default: detected)."),
              beams: Optional[int] = TranslateBeamsOpt,
              file: Optional[Path] = FileOpt, model: Optional[str] = ModelOpt, backend: Optional[str] = BackendOpt,
              device: str = DeviceOpt, as_json: bool = JsonOpt, show_prompt: bool = ShowPromptOpt) -> None:
    """Translate a text."""
    _run_task("translate", text, file, model, backend, device, as_json, show_prompt, target=target, source=source,
              num_beams=beams)


@app.command()
def answer(question: str = typer.Argument(..., help="The question."),
           context: Optional[str] = typer.Argument(None, help="Context text, or '-' for stdin."),
           file: Optional[Path] = FileOpt, model: Optional[str] = ModelOpt, backend: Optional[str] = BackendOpt,
           device: str = DeviceOpt, as_json: bool = JsonOpt, show_prompt: bool = ShowPromptOpt) -> None:
    """Extractive answer: a span of the context, with offsets."""
    _run_task("answer", context, file, model, backend, device, as_json, show_prompt, question=question)


@app.command()
def chat(prompt: str = typer.Argument(..., help="Your message."),
         system: Optional[str] = typer.Option(None, "--system", help="System message."),
         max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Longest answer in tokens."),
         model: Optional[str] = ModelOpt, backend: Optional[str] = BackendOpt, device: str = DeviceOpt,
         as_json: bool = JsonOpt) -> None:
    """Free-form chat with the model (greedy)."""
    from llamatasks.model import load

    result = load(model, backend=backend, device=device).chat(prompt, system=system, max_new_tokens=max_new_tokens)
    print(result.model_dump_json(indent=2) if as_json else result.text)


@app.command()
def info(model: Optional[str] = typer.Argument(None, help="Model folder or .gguf (default: the default model)."),
         as_json: bool = JsonOpt) -> None:
    """Show a model's profile: LLaMA generation, prompt format, stop tokens, context."""
    from llamatasks.model import load

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
    """Add the subcommands that plugins contribute through the ``register_commands`` hook."""
    from llamatasks.plugins import default_registry

    default_registry().add_commands(target if target is not None else app)


def _register_eval() -> None:
    try:
        from llamatasks.evaluation.cli import eval_command
    except ImportError:  # the evaluation extra is not installed
        return
    app.command("eval", help="Score a task on a labelled JSONL file.")(eval_command)


_register_eval()


def _register_export() -> None:
    try:
        from llamatasks_export.cli import export_app
    except ImportError:  # the export toolkit is not installed
        return
    app.add_typer(export_app, name="export")


_register_export()


def main() -> None:
    """Entry point: llamatasks errors become one line on stderr and exit code 2."""
    try:
        add_plugin_commands()
        app()  # standalone mode: click handles usage errors and --help itself
    except LlamaTasksError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
