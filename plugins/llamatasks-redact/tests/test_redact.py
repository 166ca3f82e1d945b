"""redact(): detectors and ner combined, overlaps resolved, offsets exact; the task, the command and the entry point."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from collections.abc import Callable
from typing import Any, ClassVar

import llamatasks_redact
import pytest
import typer
from llamatasks_redact import Redaction, redact
from llamatasks_redact import task as task_module
from typer.testing import CliRunner

from llamatasks.errors import InputTypeError, InvalidInputError
from llamatasks.results import Entities, Entity, Provenance

TEXT = ("Alice Smith (alice@example.com, +44 20 7946 0958) paid with 4111 1111 1111 1111 "
        "from DE89 3704 0044 0532 0130 00 in Berlin.")
PROVENANCE = Provenance(model="fake", backend="fake", device="cpu", prompt_format="chatml",
                        tokens_in=10, tokens_out=0, seconds=0.0)


def check_offsets(original: str, result: Redaction) -> None:
    """Every span is exact, spans are ordered and disjoint, and replacing them gives result.text."""
    rebuilt, last = [], 0
    for span in result.spans:
        assert original[span.start:span.end] == span.text and span.start >= last
        rebuilt += [original[last:span.start], span.replacement]
        last = span.end
    assert "".join(rebuilt) + original[last:] == result.text


class FakeNer:
    """Stands in for the core ner task: labels every word in ``names``, and the 'DE89' inside the IBAN."""

    names: ClassVar[dict[str, str]] = {"Alice Smith": "PER", "Berlin": "LOC", "DE89": "ORG"}
    labels_asked: ClassVar[list[str]] = []

    def run(self, model: Any, texts: list[str], options: Any) -> list[Entities]:
        labels = list(options.labels)
        FakeNer.labels_asked = labels
        results = []
        for text in texts:
            entities = [Entity(text=name, label=label, start=text.index(name), end=text.index(name) + len(name),
                               score=0.9) for name, label in self.names.items() if name in text and label in labels]
            results.append(Entities(entities=entities, provenance=PROVENANCE))
        return results


@pytest.fixture
def fake_ner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_module, "NerTask", FakeNer)
    monkeypatch.setattr("llamatasks.api.get_model", lambda model=None, backend=None: object())


def test_detectors_only_needs_no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no model should load when entities=()")

    monkeypatch.setattr("llamatasks.api.get_model", no_model)
    result = redact(TEXT, entities=())
    assert isinstance(result, Redaction) and result.provenance is None
    assert result.text == ("Alice Smith ([EMAIL], [PHONE]) paid with [CARD] from [IBAN] in Berlin.")
    assert [s.label for s in result.spans] == ["EMAIL", "PHONE", "CARD", "IBAN"]
    assert all(s.source == "detector" and s.score == 1.0 for s in result.spans)
    check_offsets(TEXT, result)


def test_names_come_from_ner_and_detectors_win_overlaps(fake_ner: None) -> None:
    result = redact(TEXT, entities=["PER", "LOC", "ORG"])
    assert FakeNer.labels_asked == ["PER", "LOC", "ORG"]
    assert result.text == "[PER] ([EMAIL], [PHONE]) paid with [CARD] from [IBAN] in [LOC]."
    by_label = {s.label: s for s in result.spans}
    assert by_label["PER"].source == "ner" and by_label["PER"].score == 0.9
    assert "ORG" not in by_label  # 'DE89' lies inside the validated IBAN
    assert result.provenance == PROVENANCE.model_copy(update={"seconds": result.provenance.seconds})
    check_offsets(TEXT, result)


def test_default_entities_are_people_and_places(fake_ner: None) -> None:
    redact("Alice Smith lives in Berlin.")
    assert FakeNer.labels_asked == ["PER", "LOC"]


def test_options(fake_ner: None) -> None:
    result = redact(TEXT, entities=(), detectors=["email"], placeholder="<{label}>")
    assert result.text.startswith("Alice Smith (<EMAIL>, +44 20 7946 0958)")
    assert redact(TEXT, entities=(), placeholder="***").text.count("***") == 4
    many = redact(["mail a@b.org", "nothing here"], entities=())
    assert [r.text for r in many] == ["mail [EMAIL]", "nothing here"]


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"detectors": ["ssn"]}, InvalidInputError),
    ({"placeholder": "[{kind}]"}, InvalidInputError),
    ({"entities": "PER"}, InvalidInputError),
    ({"text": "   "}, InvalidInputError),
    ({"text": b"bytes"}, InputTypeError),
])
def test_bad_options_are_typed_errors(kwargs: dict[str, Any], error: type[Exception]) -> None:
    text = kwargs.pop("text", TEXT)
    with pytest.raises(error) as caught:
        redact(text, **{"entities": (), **kwargs})
    assert caught.value.hint


def test_the_task_runs_on_a_tiny_model_without_installing(tiny_model: Callable[..., Any],
                                                          make_registry: Callable[..., Any]) -> None:
    model = tiny_model("chatml", registry=make_registry(llamatasks_redact))
    assert model.registry.problems == []
    result = model.run("redact", TEXT)
    assert isinstance(result, Redaction)
    assert {"EMAIL", "PHONE", "CARD", "IBAN"} <= {s.label for s in result.spans}
    assert result.provenance is not None and result.provenance.model == model.profile.name
    assert all(s.label in {"EMAIL", "PHONE", "CARD", "IBAN", "PER", "LOC"} for s in result.spans)
    check_offsets(TEXT, result)
    assert model.prompt_for("redact", TEXT)  # ner's prompts, shown by --show-prompt


def cli_app(registry: Any) -> typer.Typer:
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a second command keeps "redact" a subcommand
    registry.add_commands(app)
    return app


def test_the_command(make_registry: Callable[..., Any]) -> None:
    registry = make_registry(llamatasks_redact)
    app = cli_app(registry)
    assert registry.owners_of("command", "redact") == "llamatasks_redact"
    result = CliRunner().invoke(app, ["redact", "--entities", "", "mail jane@example.com now"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "mail [EMAIL] now"
    result = CliRunner().invoke(app, ["redact", "--entities", "", "--json", "-"], input="call +44 20 7946 0958")
    assert Redaction.model_validate_json(result.stdout).spans[0].label == "PHONE"


def test_the_entry_point_is_installed() -> None:
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="llamatasks")}
    if "redact" not in eps:
        pytest.skip("llamatasks-redact is not installed (pip install -e plugins/llamatasks-redact)")
    assert eps["redact"].value == "llamatasks_redact"
    from llamatasks.testing.plugins import registry_with

    registry = registry_with(load_entrypoints=True)
    info = next(p for p in registry.plugins() if p.name == "redact")
    assert (info.distribution, info.version) == ("llamatasks-redact", llamatasks_redact.__version__)
    assert "task redact" in info.registered
    # The real command line: the entry point is loaded and its command added before arguments are parsed.
    done = subprocess.run([sys.executable, "-m", "llamatasks", "redact", "--entities", "", "mail jane@example.com"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "mail [EMAIL]"
