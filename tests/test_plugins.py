"""Plugins register through the same hooks as the built-ins; a broken one is skipped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import BaseModel
from typer.testing import CliRunner

import llamatasks
from llamatasks.plugins import hookimpl
from llamatasks.plugins.manager import Registry, make_plugin_manager
from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.results import Classification
from llamatasks.tasks.base import Task, TaskModel
from llamatasks.tasks.options import TaskOptions
from llamatasks.tasks.scoring import label_distributions


class ToxicityTask(Task[TaskOptions]):
    """A third-party task built on the label-scoring machinery."""

    name = "toxicity"
    result_type = Classification

    def prompts(self, model: TaskModel, text: str, options: TaskOptions) -> list[Prompt]:
        messages = [Message("user", ["Is this comment toxic?\n\n", User(text)])]
        return [model.renderer.render(messages, answer_prefix="The comment is")]

    def run(self, model: TaskModel, texts: list[str], options: TaskOptions) -> Sequence[BaseModel]:
        prompts = [self.prompts(model, t, options)[0] for t in texts]
        dists = label_distributions(model, prompts, {"toxic": ["toxic"], "fine": ["fine"]}, lead=" ")
        return [Classification(label=max(d, key=d.__getitem__), score=max(d.values()), scores=d,
                                provenance=model.provenance(tokens_in=len(p.ids), tokens_out=0, seconds=0.0))
                for d, p in zip(dists, prompts)]


class TaskPlugin:
    @hookimpl
    def register_tasks(self, register: Callable[[Task], None]) -> None:
        register(ToxicityTask())


class RaisingPlugin:
    @hookimpl
    def register_tasks(self, register: Callable[[Task], None]) -> None:
        raise RuntimeError("boom")


class WrongTypePlugin:
    @hookimpl
    def register_backends(self, register: Callable[[Any], None]) -> None:
        register("not a backend spec")


class DuplicatePlugin:
    @hookimpl
    def register_tasks(self, register: Callable[[Task], None]) -> None:
        register(ToxicityTask())


def _registry(*plugins: object) -> Registry:
    pm = make_plugin_manager(load_entrypoints=False)
    for plugin in plugins:
        pm.register(plugin, name=type(plugin).__name__)
    return Registry(pm)


def test_builtins_come_through_the_hooks() -> None:
    registry = _registry()
    assert set(registry.tasks.items) == {"summarize", "translate", "ner", "sentiment", "classify", "answer", "chat"}
    assert "torch" in registry.backends.items
    assert {"llama3", "llama2-chat", "chatml", "zephyr", "completion"} <= set(registry.prompt_formats.items)
    assert registry.owners_of("task", "ner") == "llamatasks.plugins.default_plugins.tasks"
    registry.add_commands(typer.Typer())  # commands are collected when a CLI asks for them
    assert registry.owners_of("command", "eval") == "llamatasks.plugins.default_plugins.commands"


class FewerArgumentsPlugin:
    """A legal implementation that takes none of the hook's arguments."""

    def __init__(self) -> None:
        self.called = False

    @hookimpl
    def register_tasks(self) -> None:
        self.called = True


def test_an_implementation_may_declare_fewer_arguments() -> None:
    plugin = FewerArgumentsPlugin()
    registry = _registry(plugin)
    assert plugin.called and registry.problems == []


class ReplacingPlugin:
    """Registers names the built-ins hold."""

    @hookimpl
    def register_backends(self, register: Callable[[Any], None]) -> None:
        from llamatasks.plugins import BackendSpec

        register(BackendSpec(name="torch", load=lambda request: None))  # type: ignore[arg-type,return-value]

    @hookimpl(tryfirst=True)
    def register_tasks(self, register: Callable[[Task], None]) -> None:
        register(type("Ner", (ToxicityTask,), {"name": "ner"})())


def test_a_plugin_cannot_replace_a_builtin() -> None:
    with pytest.warns(UserWarning, match="'torch' is already registered by llamatasks.plugins.default_plugins.backends"):
        registry = _registry(ReplacingPlugin())
    assert registry.owners_of("backend", "torch") == "llamatasks.plugins.default_plugins.backends"
    assert registry.owners_of("task", "ner") == "llamatasks.plugins.default_plugins.tasks"  # tryfirst changes nothing
    assert "task 'ner' is already registered by llamatasks.plugins.default_plugins.tasks" in problems_of(
        registry, "ReplacingPlugin")


class ExitingPlugin:
    @hookimpl
    def register_tasks(self, register: Callable[[Task], None]) -> None:
        raise SystemExit(3)


class InterruptedPlugin:
    @hookimpl
    def register_tasks(self, register: Callable[[Task], None]) -> None:
        raise KeyboardInterrupt


def test_a_plugin_that_exits_is_contained_but_an_interrupt_is_not() -> None:
    with pytest.warns(UserWarning, match="register_tasks raised SystemExit"):
        registry = _registry(ExitingPlugin(), TaskPlugin())
    assert "toxicity" in registry.tasks.items
    with pytest.raises(KeyboardInterrupt):
        _registry(InterruptedPlugin())


def test_hooks_are_called_through_pluggy_so_its_monitoring_sees_them() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(TaskPlugin(), name="TaskPlugin")
    calls: list[tuple[str, list[str]]] = []
    pm.add_hookcall_monitoring(lambda name, impls, kwargs: calls.append((name, [i.plugin_name for i in impls])),
                               lambda outcome, name, impls, kwargs: None)
    Registry(pm)
    assert ("register_tasks", ["TaskPlugin"]) in calls
    assert ("register_tasks", ["llamatasks.plugins.default_plugins.tasks"]) in calls


def test_a_task_plugin_runs_without_installing(tiny_checkpoint: Callable[[str], Path]) -> None:
    registry = _registry(TaskPlugin())
    m = llamatasks.load(tiny_checkpoint("chatml"), registry=registry)
    result = m.run("toxicity", "you are lovely")
    assert isinstance(result, Classification) and sum(result.scores.values()) == pytest.approx(1.0)


def test_broken_plugins_are_reported_and_skipped() -> None:
    with pytest.warns(UserWarning):
        registry = _registry(RaisingPlugin(), WrongTypePlugin(), TaskPlugin(), DuplicatePlugin())
    problems = {p.plugin: p.problem for p in registry.problems}
    assert "raised RuntimeError('boom')" in problems["RaisingPlugin"]
    assert "not a BackendSpec" in problems["WrongTypePlugin"]
    assert "already registered" in " ".join(problems.values())
    assert "toxicity" in registry.tasks.items and "ner" in registry.tasks.items  # everything else still works


# -- entry points, versions and the `llamatasks plugins` listing ----------------------------------

class FakeDistribution:
    def __init__(self, name: str, version: str) -> None:
        self.metadata = {"Name": name, "name": name}
        self.version = version
        self.entry_points: list[FakeEntryPoint] = []


class FakeEntryPoint:
    """An entry point of the ``llamatasks`` group whose ``load`` returns ``target`` or raises it."""

    group = "llamatasks"

    def __init__(self, name: str, target: object, dist: FakeDistribution | None = None) -> None:
        self.name, self.target, self.dist = name, target, dist
        if dist is not None:
            dist.entry_points = [self]

    def load(self) -> object:
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Pretend these entry points are installed (``installed(ep, ...)``); a fresh default registry around the test."""
    import importlib.metadata

    from llamatasks.plugins import default_registry

    original = importlib.metadata.entry_points

    def install(*eps: FakeEntryPoint) -> None:
        def entry_points(group: str | None = None, **kwargs: Any) -> Any:
            return list(eps) if group == "llamatasks" else original(group=group, **kwargs)

        # pluggy loads entry points by walking the distributions: it sees these instead of the installed ones.
        dists = [ep.dist or FakeDistribution(f"dist-of-{ep.name}", "0") for ep in eps]
        for ep, dist in zip(eps, dists):
            dist.entry_points = [ep]
        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
        monkeypatch.setattr(importlib.metadata, "distributions", lambda: dists)

    default_registry.cache_clear()
    yield install
    default_registry.cache_clear()


GOOD = FakeEntryPoint("good", TaskPlugin(), FakeDistribution("llamatasks-good", "0.3.1"))
BROKEN = FakeEntryPoint("broken", ImportError("No module named 'llamatasks_broken'"),
                        FakeDistribution("llamatasks-broken", "1.2"))


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(installed: Callable[..., None]) -> None:
    installed(BROKEN, GOOD)
    with pytest.warns(UserWarning, match="broken failed to load"):
        registry = Registry(make_plugin_manager())
    assert "toxicity" in registry.tasks.items and "ner" in registry.tasks.items
    infos = {info.name: info for info in registry.plugins()}
    broken = infos["broken"]
    assert not broken.loaded and broken.version == "1.2" and broken.distribution == "llamatasks-broken"
    assert "No module named 'llamatasks_broken'" in broken.problems[0]
    good = infos["good"]
    assert (good.version, good.distribution, good.hooks, good.registered) == (
        "0.3.1", "llamatasks-good", ("register_tasks",), ("task toxicity",))
    assert infos["llamatasks.plugins.default_plugins.tasks"].version == llamatasks.__version__


def test_llamatasks_plugins_env_restricts_entry_points(installed: Callable[..., None],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    installed(BROKEN, GOOD)
    monkeypatch.setenv("LLAMATASKS_PLUGINS", "good")
    registry = Registry(make_plugin_manager())  # the broken one is not even imported: no warning
    assert [p.name for p in registry.plugins() if not p.name.startswith("llamatasks.")] == ["good"]
    assert registry.problems == []
    monkeypatch.setenv("LLAMATASKS_PLUGINS", "")
    assert "toxicity" not in Registry(make_plugin_manager()).tasks.items


class BadSignaturePlugin:
    @hookimpl
    def register_tasks(self, add: Callable[[Task], None]) -> None:  # the hook's argument is `register`
        add(ToxicityTask())


def test_a_plugin_pluggy_refuses_is_reported_and_skipped(installed: Callable[..., None]) -> None:
    installed(FakeEntryPoint("badsig", BadSignaturePlugin()), GOOD)
    with pytest.warns(UserWarning, match="badsig could not be registered"):
        registry = Registry(make_plugin_manager())
    assert "toxicity" in registry.tasks.items  # from `good`
    assert any(p.plugin == "badsig" and "add" in p.problem for p in registry.problems)


class TypoPlugin:
    @hookimpl
    def register_task(self, register: Callable[[Task], None]) -> None:
        register(ToxicityTask())


class HalfwayPlugin:
    @hookimpl
    def register_tasks(self, register: Callable[[Task], None]) -> None:
        register(ToxicityTask())
        raise ValueError("second task failed")


class TaskClassPlugin:
    @hookimpl
    def register_tasks(self, register: Callable[[Any], None]) -> None:
        register(ToxicityTask)  # the class, not an instance


class ReturningPlugin:
    @hookimpl
    def register_tasks(self, register: Callable[[Task], None]) -> list[Task]:
        task = ToxicityTask()
        register(task)
        return [task]


def problems_of(registry: Registry, plugin: str) -> str:
    return " | ".join(p.problem for p in registry.problems if p.plugin == plugin)


def test_a_hook_that_does_not_exist_is_reported() -> None:
    with pytest.warns(UserWarning, match="register_task, which is not a llamatasks hook"):
        registry = _registry(TypoPlugin())
    assert "toxicity" not in registry.tasks.items


def test_a_raising_hook_loses_all_its_registrations() -> None:
    with pytest.warns(UserWarning, match="second task failed"):
        registry = _registry(HalfwayPlugin())
    assert "toxicity" not in registry.tasks.items
    assert "register_tasks raised ValueError('second task failed')" in problems_of(registry, "HalfwayPlugin")


def test_a_task_class_instead_of_an_instance_is_reported() -> None:
    with pytest.warns(UserWarning, match="not a Task"):
        registry = _registry(TaskClassPlugin())
    assert "toxicity" not in registry.tasks.items


def test_a_hook_that_returns_a_value_is_reported_but_its_registrations_kept() -> None:
    with pytest.warns(UserWarning, match="returned"):
        registry = _registry(ReturningPlugin())
    assert "toxicity" in registry.tasks.items


def test_a_duplicate_name_names_the_first_owner() -> None:
    # Plugins are collected in registration order: TaskPlugin registers "toxicity" first.
    with pytest.warns(UserWarning, match="already registered by TaskPlugin"):
        registry = _registry(TaskPlugin(), DuplicatePlugin())
    assert registry.owners_of("task", "toxicity") == "TaskPlugin"
    assert "task 'toxicity' is already registered by TaskPlugin" in problems_of(registry, "DuplicatePlugin")


class CommandPlugin:
    @hookimpl
    def register_commands(self, app: typer.Typer) -> None:
        @app.command()
        def toxicity(text: str) -> None:
            """Toxicity of a text."""
            typer.echo(f"toxicity of {text}")

        @app.command("ner")
        def my_ner() -> None:
            """Clashes with the built-in `ner` command."""

        app.add_typer(typer.Typer())  # a group without a name


class SecondCommandPlugin:
    @hookimpl
    def register_commands(self, app: typer.Typer) -> None:
        app.command("toxicity")(lambda: None)


class RaisingCommandPlugin:
    @hookimpl
    def register_commands(self, app: typer.Typer) -> None:
        raise RuntimeError("no commands today")


def test_plugin_commands_are_added_and_clashes_reported() -> None:
    from llamatasks.cli import app as builtin_app

    registry = _registry(CommandPlugin(), SecondCommandPlugin(), RaisingCommandPlugin())  # in registration order
    app = typer.Typer()
    app.registered_commands = list(builtin_app.registered_commands)  # a copy: the real CLI stays as it is
    with pytest.warns(UserWarning):
        registry.add_commands(app)
    result = CliRunner().invoke(app, ["toxicity", "you are lovely"])
    assert result.exit_code == 0 and result.output.strip() == "toxicity of you are lovely"
    assert registry.owners_of("command", "toxicity") == "CommandPlugin"
    assert "'ner' is a built-in llamatasks command" in problems_of(registry, "CommandPlugin")
    assert "without a name" in problems_of(registry, "CommandPlugin")
    assert "already registered by CommandPlugin" in problems_of(registry, "SecondCommandPlugin")
    assert "no commands today" in problems_of(registry, "RaisingCommandPlugin")
    registry.add_commands(app)  # a second call adds nothing twice
    assert [c.name for c in app.registered_commands].count("toxicity") == 0  # named by its function
    assert sum(c.callback.__name__ == "toxicity" for c in app.registered_commands if c.callback) == 1


def test_cli_plugins_lists_versions_hooks_registrations_and_problems(installed: Callable[..., None]) -> None:
    import json

    from llamatasks.cli import app

    installed(BROKEN, GOOD)
    with pytest.warns(UserWarning):
        result = CliRunner().invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    plugins = {p["name"]: p for p in listing["plugins"]}
    assert plugins["good"]["version"] == "0.3.1" and plugins["good"]["registered"] == ["task toxicity"]
    assert plugins["broken"]["loaded"] is False and "failed to load" in plugins["broken"]["problems"][0]
    assert plugins["llamatasks.plugins.default_plugins.backends"]["hooks"] == ["register_backends"]
    assert {"kind": "task", "name": "toxicity", "plugin": "good", "description": ""} in listing["registered"]
    assert any(p["plugin"] == "broken" for p in listing["problems"])

    shown = CliRunner().invoke(app, ["plugins"], terminal_width=200)  # the registry is built: no new warning
    assert shown.exit_code == 0
    assert "failed to load" in shown.stdout and "0.3.1" in shown.stdout
    assert "plugin broken: failed to load" in shown.stderr
