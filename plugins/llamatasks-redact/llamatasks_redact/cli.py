"""``llamatasks redact``: the subcommand this plugin adds through the ``register_commands`` hook."""

from __future__ import annotations

from pathlib import Path

import typer

from llamatasks.plugins import read_text

TextArg = typer.Argument(None, help="Text, or '-' for stdin.")
FileOpt = typer.Option(None, "--file", "-f", help="Read the text from this file.")
EntitiesOpt = typer.Option("PER,LOC", "--entities", "-e",
                           help="Comma-separated ner labels to redact; '' for the detectors only (no model).")
RegionsOpt = typer.Option("US,GB,DE,FR", "--phone-regions", help="Regions whose national phone formats are recognised.")
ModelOpt = typer.Option(None, "--model", "-m", help="Model folder or .gguf (default: the default model).")
JsonOpt = typer.Option(False, "--json", help="Print the Redaction as JSON, with the spans replaced.")


def redact_command(text: str | None = TextArg, file: Path | None = FileOpt, entities: str = EntitiesOpt,
                   regions: str = RegionsOpt, model: str | None = ModelOpt, as_json: bool = JsonOpt) -> None:
    """Redact PII: e-mails, phone numbers, IBANs, card numbers, and names found by ner."""
    from llamatasks_redact.task import redact

    result = redact(read_text(text, file), model=model, entities=_split(entities), phone_regions=_split(regions))
    if as_json:
        print(result.model_dump_json(indent=2))  # type: ignore[union-attr]
    else:
        print(result.text)  # type: ignore[union-attr]


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
