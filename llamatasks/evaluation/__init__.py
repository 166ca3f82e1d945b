"""Quality harness: score a model on labelled examples (``llamatasks eval TASK --data FILE.jsonl``).

``run_eval`` reads a JSON Lines file (``data``), runs the typed task or the naive free-text baseline
(``baselines``), scores the predictions (``metrics``) and returns an ``EvalReport``. The command
itself lives in ``llamatasks.evaluation.cli`` so that importing this package does not import typer.
"""

from .data import (
    EvalTask,
    GoldEntity,
    NerExample,
    SentimentExample,
    SummarizationExample,
    TranslationExample,
    load_examples,
    resolve_task,
)
from .predictions import LabelPrediction, SpanPrediction, TaskModel
from .report import EvalMethod, EvalReport
from .runner import run_eval
from .split import Split, part_of, record_key, select_split

__all__ = [
    "EvalMethod",
    "EvalReport",
    "EvalTask",
    "GoldEntity",
    "LabelPrediction",
    "NerExample",
    "SentimentExample",
    "SpanPrediction",
    "Split",
    "SummarizationExample",
    "TaskModel",
    "TranslationExample",
    "load_examples",
    "part_of",
    "record_key",
    "resolve_task",
    "run_eval",
    "select_split",
]
