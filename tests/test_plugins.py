"""Plugins register through the same hooks as the built-ins; a broken one is skipped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import llamatasks
from llamatasks.hookspecs import hookimpl
from llamatasks.plugins import Registry, make_plugin_manager
from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.results import Classification
from llamatasks.tasks.base import Task, TaskModel
from llamatasks.tasks.scoring import label_distributions


class ToxicityTask(Task):
    """A third-party task built on the label-scoring machinery."""

    name = "toxicity"
    result_type = Classification

    def prompts(self, model: TaskModel, text: str, **options: Any) -> list[Prompt]:
        messages = [Message("user", ["Is this comment toxic?\n\n", User(text)])]
        return [model.renderer.render(messages, answer_prefix="The comment is")]

    def run(self, model: TaskModel, texts: list[str], **options: Any) -> Sequence[BaseModel]:
        prompts = [self.prompts(model, t)[0] for t in texts]
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
    assert set(registry.tasks.items) == {"summarize", "translate", "ner", "sentiment", "classify", "answer"}
    assert "torch" in registry.backends.items
    assert {"llama3", "llama2-chat", "chatml", "zephyr", "completion"} <= set(registry.prompt_formats.items)
    assert registry.owners_of("task", "ner") == "llamatasks.tasks.builtin"


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
