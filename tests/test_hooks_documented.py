"""Every hook is documented in docs/hooks.md, and every example there works as a plugin."""

from __future__ import annotations

import inspect
import re
import types
import warnings
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llamatasks.engine.base import (
    REQUIRED,
    GenerateRequest,
    GenerationOptions,
    ScoreRequest,
)
from llamatasks.errors import CapabilityError, InvalidInputError
from llamatasks.plugins import hookspecs
from llamatasks.plugins.manager import Registry, make_plugin_manager

HOOKS_MD = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"
HEADING = re.compile(r"^## `(\w+)\(([^)]*)\)`\s*$", re.MULTILINE)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def hookspec_functions() -> dict[str, types.FunctionType]:
    """The hooks declared in ``llamatasks.plugins.hookspecs``, by name."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {name: fn for name, fn in vars(hookspecs).items() if hasattr(fn, marker)}


def documented_sections() -> dict[str, tuple[list[str], str]]:
    """Hook name -> (parameter names in its heading, the section's text)."""
    text = HOOKS_MD.read_text(encoding="utf-8")
    headings = list(HEADING.finditer(text))
    sections = {}
    for i, match in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        params = [p.strip() for p in match.group(2).split(",") if p.strip()]
        sections[match.group(1)] = (params, text[match.end():end])
    return sections


def example_plugin(hook: str) -> types.ModuleType:
    """The last python block of a hook's section, executed as a plugin module."""
    _, section = documented_sections()[hook]
    code = PYTHON_BLOCK.findall(section)[-1]
    module = types.ModuleType(f"hooks_md_{hook}")
    exec(compile(code, f"docs/hooks.md ({hook})", "exec"), module.__dict__)  # noqa: S102 - our own docs
    return module


def registry_with(plugin: object, name: str) -> Registry:
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(plugin, name=name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an example that causes a plugin problem fails here
        return Registry(pm)


def test_every_hook_is_documented_and_every_documented_hook_exists() -> None:
    specs, documented = set(hookspec_functions()), set(documented_sections())
    assert specs - documented == set(), "hooks missing from docs/hooks.md"
    assert documented - specs == set(), "docs/hooks.md documents hooks that do not exist"


@pytest.mark.parametrize("hook", sorted(hookspec_functions()))
def test_each_hook_section_is_complete(hook: str) -> None:
    params, section = documented_sections()[hook]
    spec = hookspec_functions()[hook]
    assert params == list(inspect.signature(spec).parameters), "heading's parameters differ from the hookspec"
    assert f"def {hook}(" in section, "the section shows the full signature"
    for part in ("**When it is called:**", "**What to do:**", "**firstresult:**"):
        assert part in section
    firstresult = bool(getattr(spec, f"{hookspecs.PROJECT_NAME}_spec")["firstresult"])
    assert ("**firstresult:** yes" in section) == firstresult
    assert spec.__doc__ and spec.__doc__.strip(), "the hookspec has a one-line docstring"
    assert f"def {hook}(" in PYTHON_BLOCK.findall(section)[-1], "the section ends with an example plugin"


def test_register_backends_example() -> None:
    registry = registry_with(example_plugin("register_backends"), "echo-plugin")
    assert registry.owners_of("backend", "echo") == "echo-plugin"
    engine = registry.backend("echo").load(None)
    (out,) = engine.generate(GenerateRequest.of([[5, 7]], GenerationOptions(max_new_tokens=3)))
    assert out.token_ids == [7, 7, 7] and out.finish_reason == "length"
    # It declares no capabilities, with a hint for each required one it lacks, and refuses to score.
    assert engine.capabilities == frozenset() and REQUIRED <= set(engine.capability_hints)
    with pytest.raises(CapabilityError):
        engine.score([ScoreRequest(prompt=(5,), continuations=((7,),))])


def test_register_tasks_example() -> None:
    registry = registry_with(example_plugin("register_tasks"), "count-plugin")
    task = registry.task("count-tokens")
    model = types.SimpleNamespace(tokenizer=types.SimpleNamespace(count=lambda text: len(text.split())))
    assert [r.tokens for r in task.run(model, ["a b c", "d"], task.Options.parse({}))] == [3, 1]
    budgeted = task.run(model, ["a b c", "d"], task.Options.parse({"budget": 2}))
    assert [r.fits for r in budgeted] == [False, True]
    with pytest.raises(InvalidInputError):  # the example's Options bound its field
        task.Options.parse({"budget": 0})


def test_register_prompt_formats_example() -> None:
    registry = registry_with(example_plugin("register_prompt_formats"), "alpaca-plugin")
    template = "{% for m in messages %}### Instruction:\n{{ m['content'] }}{% endfor %}"
    detected = next(fmt for fmt in registry.formats_in_order() if fmt.detect(template))
    assert detected.name == "alpaca"


def test_register_commands_example() -> None:
    registry = registry_with(example_plugin("register_commands"), "hello-plugin")
    app = typer.Typer()
    app.command()(lambda: None)  # a second command keeps plugin commands subcommands
    registry.add_commands(app)
    result = CliRunner().invoke(app, ["hello", "--name", "llamas"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "hello llamas"
    assert registry.owners_of("command", "hello") == "hello-plugin"
