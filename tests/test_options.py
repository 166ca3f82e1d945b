"""Task options are declared once: the Model methods, the public functions and the CLI are derived from them."""

from __future__ import annotations

import inspect
import math

import pytest
import typer
from typer.testing import CliRunner

import llamatasks
from llamatasks import api
from llamatasks.errors import InvalidInputError
from llamatasks.model import Model
from llamatasks.plugins.manager import Registry, make_plugin_manager
from llamatasks.tasks.options import TaskOptions

# Model method -> the registered task it runs; its text argument(s) are not options.
METHODS = {"summarize": "summarize", "translate": "translate", "ner": "ner", "sentiment": "sentiment",
           "classify": "classify", "answer": "answer", "chat": "chat"}
NOT_OPTIONS = {"self", "text", "context", "prompt", "model", "backend", "stream", "image", "images"}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(make_plugin_manager(load_entrypoints=False))


def _options(registry: Registry, task: str) -> type[TaskOptions]:
    return registry.task(task).Options


@pytest.mark.parametrize("method", sorted(METHODS))
def test_model_methods_and_functions_take_exactly_the_options_fields(registry: Registry, method: str) -> None:
    fields = set(_options(registry, METHODS[method]).model_fields)
    for func in (getattr(Model, method), getattr(api, method)):
        params = set(inspect.signature(func).parameters) - NOT_OPTIONS
        assert params == fields, f"{func.__qualname__} takes {sorted(params)}, the task's Options {sorted(fields)}"
        for name, field in _options(registry, METHODS[method]).model_fields.items():
            default = "required" if field.is_required() else f"default {field.default!r}"
            assert f"{name} ({default})" in (func.__doc__ or ""), f"{func.__qualname__} does not document {name}"


def test_every_builtin_task_declares_options_with_descriptions(registry: Registry) -> None:
    for name, task in registry.tasks.items.items():
        assert issubclass(task.Options, TaskOptions), name
        for field_name, field in task.Options.model_fields.items():
            assert field.description, f"{name}.{field_name} has no description"
        assert task.Options.task_name == name


def test_chat_is_a_registered_task(registry: Registry) -> None:
    assert "chat" in registry.tasks.items


@pytest.mark.parametrize("task", ["summarize", "translate", "ner", "sentiment", "classify", "answer", "chat"])
def test_cli_flags_are_generated_from_the_fields(registry: Registry, task: str) -> None:
    from llamatasks.cli import app

    command = typer.main.get_command(app).commands[task]  # type: ignore[attr-defined]
    params = {p.name: p for p in command.params}
    assert set(_options(registry, task).model_fields) <= set(params)
    assert CliRunner().invoke(app, [task, "--help"]).exit_code == 0
    for name, field in _options(registry, task).model_fields.items():
        assert field.description and field.description in (getattr(params[name], "help", None) or ""), (task, name)
        if not field.is_required() and field.default is not None and not isinstance(field.default, tuple):
            assert f"(default: {field.default})" in params[name].help, (task, name)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("task", "values", "message"), [
    ("chat", {"temperature": -1}, "temperature"),
    ("chat", {"temperature": math.nan}, "temperature"),
    ("chat", {"temperature": "hot"}, "temperature"),
    ("chat", {"seed": "3"}, "seed"),
    ("chat", {"max_new_tokens": 0}, "max_new_tokens"),
    ("chat", {"system": "   "}, "system"),
    ("translate", {"target": ["en"]}, "target"),
    ("translate", {"target": "\udcff"}, "target"),
    ("translate", {}, "target"),
    ("sentiment", {"labels": ()}, "labels"),
    ("sentiment", {"labels": ("positive", "happy")}, "labels"),
    ("sentiment", {"phrasings": 5}, "phrasings"),
    ("sentiment", {"phrasings": True}, "phrasings"),
    ("classify", {"labels": ("a", "a")}, "labels"),
    ("classify", {"labels": "ab"}, "labels"),
    ("ner", {"labels": {"DRUG": ""}}, "labels"),
    ("ner", {"labels": {"DRUG": 3}}, "labels"),
    ("ner", {"labels": ()}, "labels"),
    ("summarize", {"max_words": "10"}, "max_words"),
    ("summarize", {"num_beams": 17}, "num_beams"),
    ("answer", {"question": ""}, "question"),
    ("summarize", {"words": 10}, "no option 'words'"),
])
def test_a_bad_option_is_a_typed_error_naming_it(registry: Registry, task: str, values: dict[str, object],
                                                  message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _options(registry, task).parse(values)


def test_none_means_the_default(registry: Registry) -> None:
    options = _options(registry, "summarize").parse({"max_words": None, "num_beams": None})
    assert options == _options(registry, "summarize")()


def test_run_and_prompt_for_accept_any_registered_task(tiny_model) -> None:  # type: ignore[no-untyped-def]
    m = tiny_model()
    assert isinstance(m.run("chat", "Hello", max_new_tokens=3), llamatasks.Generation)
    (prompt,) = m.prompt_for("chat", "Hello", system="Be brief.")
    assert "Be brief." in prompt.text
    with pytest.raises(InvalidInputError, match="no option 'bogus'"):
        m.run("sentiment", "great", bogus=1)


def test_cli_list_flags_split_and_label_maps_parse(tiny_checkpoint) -> None:  # type: ignore[no-untyped-def]
    import json

    from llamatasks.cli import app

    model = str(tiny_checkpoint("chatml"))
    result = CliRunner().invoke(app, ["classify", "the striker scored", "-l", "sports, politics", "--model", model,
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["scores"]) == {"sports", "politics"}
    result = CliRunner().invoke(app, ["sentiment", "fine", "--labels", "positive,negative,neutral", "--model", model,
                                      "--json"])
    assert set(json.loads(result.stdout)["scores"]) == {"positive", "negative", "neutral"}
    shown = CliRunner().invoke(app, ["ner", "Aspirin helps.", "--labels", "DRUG=medicine", "--model", model,
                                     "--show-prompt"])
    assert shown.exit_code == 0 and "Aspirin" in shown.stdout
    bad = CliRunner().invoke(app, ["sentiment", "fine", "--phrasings", "9", "--model", model])
    assert bad.exit_code != 0 and isinstance(bad.exception, InvalidInputError)


def test_a_plugin_task_without_a_command_gets_one_from_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import Field

    from llamatasks.cli import add_plugin_commands
    from llamatasks.plugins import Task, hookimpl, manager
    from llamatasks.results import Summary

    class ShoutOptions(TaskOptions):
        task_name = "shout"
        times: int = Field(default=2, ge=1, le=5, strict=True, description="How many exclamation marks.")

    class ShoutTask(Task[ShoutOptions]):
        name, result_type, Options = "shout", Summary, ShoutOptions

        def prompts(self, model, text, options):  # type: ignore[no-untyped-def]
            return []

        def run(self, model, texts, options):  # type: ignore[no-untyped-def]
            return []

    class Plugin:
        @hookimpl
        def register_tasks(self, register) -> None:  # type: ignore[no-untyped-def]
            register(ShoutTask())

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Plugin(), name="shout-plugin")
    registry = Registry(pm)
    monkeypatch.setattr(manager, "default_registry", lambda: registry)
    app = typer.Typer()
    app.command("info")(lambda: None)  # a second command, so typer keeps subcommand names
    add_plugin_commands(app)
    command = typer.main.get_command(app).commands["shout"]  # type: ignore[attr-defined]
    times = next(p for p in command.params if p.name == "times")
    assert "How many exclamation marks. (default: 2)" == times.help  # type: ignore[attr-defined]
    assert "summarize" in typer.main.get_command(app).commands  # type: ignore[attr-defined]
