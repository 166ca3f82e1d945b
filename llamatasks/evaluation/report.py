"""The result of an evaluation run: a typed report that prints as a table and saves as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from llamatasks.files import write_text_atomic

from .data import EvalTask

if TYPE_CHECKING:
    from rich.table import Table

EvalMethod = Literal["llamatasks", "naive"]
"""``llamatasks``: the typed task methods; ``naive``: ask in free text and parse (the baseline)."""

Number = int | float
SettingValue = str | int | float | bool | None


class EvalReport(BaseModel):
    """Scores of one model on one labelled file, with what is needed to reproduce them.

    ``metrics`` holds the overall figures (names as in ``llamatasks.evaluation.metrics``);
    ``groups`` holds the breakdown by ``group_by`` (``"label"`` or ``"direction"``).
    ``settings`` records choices made for the run, e.g. the summary word budget and where it came from.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: EvalTask
    method: EvalMethod
    model: str
    backend: str
    data: str = Field(description="The labelled file, as given.")
    n_examples: int = Field(ge=1)
    metrics: dict[str, Number]
    group_by: str | None = None
    groups: dict[str, dict[str, Number]] = Field(default_factory=dict)
    settings: dict[str, SettingValue] = Field(default_factory=dict)
    seconds: float = Field(ge=0, description="Wall time of predicting and scoring; model loading excluded.")
    llamatasks_version: str

    def save(self, path: Path) -> None:
        """Write the report to ``path`` as indented JSON, creating the parent folder if needed.

        The file is replaced atomically (a temporary file beside it, then a
        rename): a reader, or a run killed mid-write, never sees half a report.
        """
        write_text_atomic(path, self.model_dump_json(indent=2) + "\n")

    def to_table(self) -> Table:
        """The run (model, data, settings) and then its overall metrics, as a two-column rich table."""
        from rich.table import Table

        table = Table(title=f"{self.task} · {self.method}")
        table.add_column("")
        table.add_column("value", justify="right")
        for name, value in self._run_rows():
            table.add_row(name, value, style="dim")
        table.add_section()
        for name, number in self.metrics.items():
            table.add_row(name, format_number(number))
        return table

    def to_group_table(self) -> Table | None:
        """The per-group breakdown as a rich table, one row a group; ``None`` when there are no groups."""
        from rich.table import Table

        if not self.groups:
            return None
        columns = list(dict.fromkeys(name for scores in self.groups.values() for name in scores))
        table = Table(title=f"by {self.group_by or 'group'}")
        table.add_column(self.group_by or "group")
        for column in columns:
            table.add_column(column, justify="right")
        for group, scores in self.groups.items():
            table.add_row(group, *(format_number(scores[c]) if c in scores else "-" for c in columns))
        return table

    def _run_rows(self) -> list[tuple[str, str]]:
        """What was run, as (name, value) rows."""
        return [
            ("model", f"{self.model} ({self.backend})"),
            ("data", f"{self.data} ({self.n_examples} examples)"),
            *((name, str(value)) for name, value in self.settings.items() if value is not None),
            ("seconds", f"{self.seconds:.1f}"),
            ("llamatasks", self.llamatasks_version),
        ]


def format_number(value: Number) -> str:
    """Counts as integers, scores in [0, 1] with three decimals, larger figures (chrF, BLEU, words) with two."""
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}" if abs(value) <= 1 else f"{value:.2f}"
