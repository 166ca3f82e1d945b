"""Tests of the quality harness (llamatasks.evaluation) with a fake model: no weights are loaded."""

from __future__ import annotations

import json
from collections.abc import Sequence
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from llamatasks.errors import InvalidInputError, LlamaTasksError
from llamatasks.evaluation import (
    EvalReport,
    NerExample,
    SentimentExample,
    SpanPrediction,
    SummarizationExample,
    TranslationExample,
    load_examples,
    metrics,
    resolve_task,
    run_eval,
)
from llamatasks.evaluation import cli as eval_cli
from llamatasks.evaluation.baselines import (
    language_name,
    locate_entities,
    parse_entity_lines,
    parse_label,
)


def write_jsonl(path: Path, rows: Sequence[object]) -> Path:
    """Write rows (dicts as JSON, strings verbatim) one a line."""
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows), "utf-8")
    return path


class FakeModel:
    """A model double: answers come from tables keyed by input text; every call is recorded."""

    def __init__(self, answers: dict[str, Any] | None = None, chat_answers: dict[str, str] | None = None) -> None:
        self.profile = SimpleNamespace(name="fake-135m")
        self.backend_name = "fake"
        self.answers = answers or {}
        self.chat_answers = chat_answers or {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def sentiment(self, texts: list[str], /, *, labels: list[str] | None = None) -> list[SimpleNamespace]:
        self.calls.append(("sentiment", {"n": len(texts), "labels": labels}))
        results = []
        for text in texts:
            label, score = self.answers[text]
            other = "negative" if label == "positive" else "positive"
            results.append(SimpleNamespace(label=label, score=score, scores={label: score, other: 1 - score}))
        return results

    def ner(self, texts: list[str], /, *, labels: list[str] | None = None) -> list[SimpleNamespace]:
        self.calls.append(("ner", {"n": len(texts), "labels": labels}))
        return [SimpleNamespace(entities=[SimpleNamespace(**e) for e in self.answers[text]]) for text in texts]

    def summarize(self, texts: list[str], /, *, max_words: int | None = None,
                  num_beams: int | None = None) -> list[SimpleNamespace]:
        self.calls.append(("summarize", {"n": len(texts), "max_words": max_words, "num_beams": num_beams}))
        return [SimpleNamespace(text=self.answers[text]) for text in texts]

    def translate(self, texts: list[str], /, *, target: str, source: str | None = None,
                  num_beams: int | None = None) -> list[SimpleNamespace]:
        self.calls.append(("translate", {"n": len(texts), "target": target, "source": source, "num_beams": num_beams}))
        return [SimpleNamespace(text=self.answers[text], source=source, target=target) for text in texts]

    def chat(self, prompt: str, /, *, system: str | None = None, max_new_tokens: int = 256) -> SimpleNamespace:
        self.calls.append(("chat", {"prompt": prompt, "max_new_tokens": max_new_tokens}))
        answer = next((a for key, a in self.chat_answers.items() if key in prompt), "I don't know.")
        return SimpleNamespace(text=answer)


# --- metrics ---------------------------------------------------------------------------------------


def test_perfect_classification_scores_one() -> None:
    scores = metrics.classification_scores(["positive", "negative"], ["positive", "negative"])
    assert scores == {"accuracy": 1.0, "macro_f1": 1.0, "unparsed_share": 0.0}


def test_unparsed_prediction_counts_as_wrong() -> None:
    scores = metrics.classification_scores(["positive", "negative"], ["positive", None])
    assert scores["accuracy"] == 0.5
    assert scores["unparsed_share"] == 0.5
    # positive: P=1, R=1 -> F1 1; negative: never predicted -> F1 0.
    assert scores["macro_f1"] == pytest.approx(0.5)


def test_per_label_scores_count_predictions() -> None:
    per_label = metrics.per_label_scores(["positive", "positive", "negative"], ["positive", "positive", "positive"])
    assert per_label["positive"]["predicted"] == 3
    assert per_label["positive"]["recall"] == 1.0
    assert per_label["negative"]["support"] == 1
    assert per_label["negative"]["f1"] == 0.0


def test_ece_is_zero_for_a_calibrated_set() -> None:
    correct = [True] * 8 + [False] * 2
    assert metrics.expected_calibration_error([0.8] * 10, correct) == pytest.approx(0.0)


def test_ece_measures_overconfidence() -> None:
    correct = [True] * 5 + [False] * 5
    assert metrics.expected_calibration_error([0.99] * 10, correct) == pytest.approx(0.49)


def test_ece_weights_bins_by_size() -> None:
    # Bin of 0.95: 2 of 2 correct (gap 0.05); bin of 0.55: 1 of 2 correct (gap 0.05).
    ece = metrics.expected_calibration_error([0.95, 0.95, 0.55, 0.55], [True, True, True, False])
    assert ece == pytest.approx(0.05)


def test_ece_rejects_confidence_out_of_range() -> None:
    with pytest.raises(ValueError, match="outside"):
        metrics.expected_calibration_error([1.2], [True])


def span(text: str, label: str, start: int, end: int) -> SpanPrediction:
    return SpanPrediction(text=text, label=label, start=start, end=end)


def test_perfect_ner_scores_one() -> None:
    text = "Ada Lovelace lived in London."
    gold = [span("Ada Lovelace", "PER", 0, 12), span("London", "LOC", 22, 28)]
    overall, per_label = metrics.ner_scores([text], [gold], [gold])
    assert (overall["precision"], overall["recall"], overall["f1"]) == (1.0, 1.0, 1.0)
    assert overall["ungrounded"] == 0
    assert per_label["PER"]["f1"] == per_label["LOC"]["f1"] == 1.0


def test_ner_counts_ungrounded_predictions() -> None:
    text = "Ada Lovelace lived in London."
    gold = [span("Ada Lovelace", "PER", 0, 12), span("London", "LOC", 22, 28)]
    predicted = [
        span("Ada Lovelace", "PER", 0, 12),
        span("Paris", "LOC", 22, 28),  # offsets of a gold span, but the text there is not "Paris"
        span("Babbage", "PER", -1, -1),  # not found in the text
        span("London.", "LOC", 22, 99),  # offsets out of range
    ]
    overall, per_label = metrics.ner_scores([text], [gold], [predicted])
    assert overall["ungrounded"] == 3
    assert overall["predicted"] == 4
    # An ungrounded prediction is never a true positive, even on the right offsets.
    assert overall["precision"] == pytest.approx(1 / 4)
    assert overall["recall"] == pytest.approx(1 / 2)
    assert per_label["LOC"]["f1"] == 0.0
    assert per_label["PER"]["recall"] == 1.0


def test_ner_requires_the_exact_span_and_label() -> None:
    text = "Ada Lovelace lived in London."
    gold = [span("Ada Lovelace", "PER", 0, 12)]
    predicted = [span("Ada", "PER", 0, 3), span("Ada Lovelace", "ORG", 0, 12)]
    overall, _ = metrics.ner_scores([text], [gold], [predicted])
    assert overall["f1"] == 0.0
    assert overall["ungrounded"] == 0


def test_rouge_is_best_of_references() -> None:
    references = [["the cat sat on the mat", "a dog ran in the park"]]
    perfect = metrics.rouge_scores(["a dog ran in the park"], references)
    assert perfect == pytest.approx({"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0})
    partial = metrics.rouge_scores(["the cat sat"], references)
    assert 0.0 < partial["rouge1"] < 1.0


def test_length_scores() -> None:
    scores = metrics.length_scores(["one two three four"], [["one two", "one two three four five six"]])
    assert scores == {"predicted_words": 4.0, "reference_words": 4.0, "length_ratio": 1.0}


def test_perfect_translation_scores_hundred() -> None:
    scores = metrics.translation_scores(["Le chat est noir."], ["Le chat est noir."], "fr")
    assert scores["chrf++"] == pytest.approx(100.0)
    assert scores["bleu"] == pytest.approx(100.0)


@pytest.mark.parametrize(("lang", "tokenizer"), [("zh", "zh"), ("zh-Hans", "zh"), ("fr", "13a"), ("en", "13a")])
def test_bleu_tokenizer(lang: str, tokenizer: str) -> None:
    assert metrics.bleu_tokenizer(lang) == tokenizer


def test_bleu_uses_zh_tokenizer_for_chinese_targets() -> None:
    hypothesis, reference = "我们今天去北京看朋友", "我们今天去北京看朋友了"
    # With 13a the unspaced sentence is one token, so a near miss scores zero.
    assert metrics.translation_scores([hypothesis], [reference], "fr")["bleu"] == pytest.approx(0.0)
    assert metrics.translation_scores([hypothesis], [reference], "zh")["bleu"] > 50.0


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("The cat sat on the mat.", True),
        ("  the CAT sat on   the mat. ", True),
        ("Translation: The cat sat on the mat.", True),
        ("Le chat était assis sur le tapis.", False),
        ("", False),
    ],
)
def test_copy_detection(output: str, expected: bool) -> None:
    assert metrics.copies_source(output, "The cat sat on the mat.") is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Die Katze der der der der der der der der der der", True),
        ("I love you. I love you. I love you. I love you.", True),
        ("我们的的的的的的的的的的", True),
        ("The committee met on Tuesday and agreed on a new budget for the city.", False),
        ("ha ha ha", False),
        ("", False),
    ],
)
def test_degenerate_repetition(text: str, expected: bool) -> None:
    assert metrics.has_degenerate_repetition(text) is expected


def test_metrics_reject_unpaired_inputs() -> None:
    with pytest.raises(ValueError, match="pair up"):
        metrics.classification_scores(["positive"], [])


# --- data ------------------------------------------------------------------------------------------


def test_load_examples_reads_records_and_ignores_extra_fields(tmp_path: Path) -> None:
    rows = [
        {"text": "Great.", "label": "positive", "source": "site/a"},
        "",
        {"text": "Awful.", "label": "negative", "tokens": ["Awful", "."]},
    ]
    examples = load_examples(write_jsonl(tmp_path / "s.jsonl", rows), SentimentExample)
    assert [e.label for e in examples] == ["positive", "negative"]
    assert examples[0].source == "site/a"


def test_load_examples_limit(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": "positive"} for i in range(5)]
    assert len(load_examples(write_jsonl(tmp_path / "s.jsonl", rows), SentimentExample, limit=2)) == 2
    with pytest.raises(InvalidInputError, match="limit"):
        load_examples(tmp_path / "s.jsonl", SentimentExample, limit=0)


def test_summary_only_line_has_one_reference(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [{"document": "Long text.", "summary": "Short."}])
    assert load_examples(path, SummarizationExample)[0].reference_texts == ("Short.",)


VALID_LINES: dict[type, dict[str, Any]] = {
    SentimentExample: {"text": "Good.", "label": "positive"},
    NerExample: {"text": "Nothing here.", "entities": []},
    SummarizationExample: {"document": "Text.", "references": ["Summary."]},
    TranslationExample: {"source": "Hi.", "target": "Salut.", "src_lang": "en", "tgt_lang": "fr"},
}


@pytest.mark.parametrize(
    ("record_type", "line", "message"),
    [
        (SentimentExample, {"text": "Fine."}, "line 2: field 'label' is missing"),
        (SentimentExample, "{not json", "line 2: not valid JSON"),
        (SentimentExample, "[1, 2]", "line 2: the line is not a JSON object"),
        (SentimentExample, {"text": "Fine.", "label": 1}, "line 2: field 'label'"),
        (SentimentExample, {"text": "", "label": "positive"}, "line 2: field 'text'"),
        (
            NerExample,
            {"text": "Paris is big.", "entities": [{"text": "Pari", "label": "LOC", "start": 0, "end": 5}]},
            "line 2: entities[0] is 'Pari' but text[0:5] is 'Paris'",
        ),
        (
            NerExample,
            {"text": "Paris.", "entities": [{"text": "Paris", "label": "LOC", "start": -1, "end": 5}]},
            "line 2: field 'entities[0].start'",
        ),
        (SummarizationExample, {"document": "Text.", "references": []}, "line 2: needs 'references'"),
        (TranslationExample, {"source": "Hi.", "target": "Salut.", "src_lang": "en"}, "field 'tgt_lang' is missing"),
    ],
)
def test_malformed_line_names_line_and_field(tmp_path: Path, record_type: type, line: Any, message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [VALID_LINES[record_type], line])
    with pytest.raises(InvalidInputError) as caught:
        load_examples(path, record_type)
    assert message in caught.value.message
    assert caught.value.hint
    assert isinstance(caught.value, ValueError)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_examples(tmp_path / "absent.jsonl", SentimentExample)
    with pytest.raises(InvalidInputError, match="no examples"):
        load_examples(write_jsonl(tmp_path / "empty.jsonl", ["", "  "]), SentimentExample)


def test_resolve_task_aliases() -> None:
    assert resolve_task("Summarization") == "summarize"
    assert resolve_task("translation") == "translate"
    with pytest.raises(InvalidInputError, match="no evaluation for task 'poetry'"):
        resolve_task("poetry")


# --- naive baseline parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Positive.", "positive"),
        ("The sentiment of this text is negative.", "negative"),
        ("The sentiment of this text is neutral.", None),
        ("It could be positive or negative.", None),
        ("Unpositive", None),
    ],
)
def test_parse_label(answer: str, expected: str | None) -> None:
    assert parse_label(answer, ["positive", "negative"]) == expected


def test_naive_entities_are_located_or_left_ungrounded() -> None:
    text = "John Smith met Mary in Paris, then John Smith left."
    answer = "Entities:\n- John Smith | per\n2. Paris | LOC\nentity | LABEL\nJohn Smith | PER\nMary"
    pairs = parse_entity_lines(answer, ["PER", "LOC"])
    assert pairs == [("John Smith", "PER"), ("Paris", "LOC"), ("entity", "LABEL"), ("John Smith", "PER")]
    spans = locate_entities(text, pairs)
    assert [(s.start, s.end) for s in spans] == [(0, 10), (23, 28), (-1, -1), (35, 45)]
    overall, _ = metrics.ner_scores([text], [[]], [spans])
    assert overall["ungrounded"] == 1


def test_language_name() -> None:
    assert [language_name(code) for code in ("fr", "zh", "French", "xx")] == ["French", "Chinese", "French", "xx"]


# --- run_eval end to end ---------------------------------------------------------------------------


SENTIMENT_ROWS: list[dict[str, Any]] = [
    {"text": "I love it.", "label": "positive"},
    {"text": "Works great.", "label": "positive"},
    {"text": "Broke in a day.", "label": "negative"},
    {"text": "Not bad at all.", "label": "positive"},
]


def test_run_eval_sentiment_with_a_loaded_model(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sentiment.jsonl", SENTIMENT_ROWS)
    model = FakeModel(
        {
            "I love it.": ("positive", 0.9),
            "Works great.": ("positive", 0.8),
            "Broke in a day.": ("negative", 0.7),
            "Not bad at all.": ("negative", 0.6),
        }
    )
    report = run_eval("sentiment", data, model=model, batch_size=3)
    assert report.task == "sentiment" and report.method == "llamatasks"
    assert (report.model, report.backend, report.n_examples) == ("fake-135m", "fake", 4)
    assert report.metrics["accuracy"] == 0.75
    # Bins: 0.9 right, 0.8 right, 0.7 right, 0.6 wrong -> (0.1 + 0.2 + 0.3 + 0.6) / 4.
    assert report.metrics["ece"] == pytest.approx(0.3)
    assert report.group_by == "label"
    assert report.groups["negative"]["predicted"] == 2
    assert [call[1]["n"] for call in model.calls] == [3, 1]
    assert report.settings["batch_size"] == 3
    assert report.llamatasks_version
    assert EvalReport.model_validate_json(report.model_dump_json()) == report


def test_run_eval_naive_sentiment_counts_unparseable_answers(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sentiment.jsonl", SENTIMENT_ROWS)
    model = FakeModel(chat_answers={"I love it.": "Positive", "Broke in a day.": "Negative!"})
    report = run_eval("sentiment", data, model=model, method="naive")
    assert report.metrics["accuracy"] == 0.5
    assert report.metrics["unparsed_share"] == 0.5
    assert "ece" not in report.metrics  # the baseline gives no confidence
    prompt = model.calls[0][1]["prompt"]
    assert prompt.startswith("Is the sentiment of this text positive or negative? Answer with one word.")


NER_ROWS: list[dict[str, Any]] = [
    {
        "text": "Ada Lovelace lived in London.",
        "entities": [
            {"text": "Ada Lovelace", "label": "PER", "start": 0, "end": 12},
            {"text": "London", "label": "LOC", "start": 22, "end": 28},
        ],
        "tokens": ["Ada", "Lovelace", "lived", "in", "London", "."],
    },
    {"text": "Nothing to see.", "entities": []},
]


def test_run_eval_ner_passes_the_data_labels(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "ner.jsonl", NER_ROWS)
    model = FakeModel(
        {
            "Ada Lovelace lived in London.": [
                {"text": "Ada Lovelace", "label": "PER", "start": 0, "end": 12},
                {"text": "London", "label": "LOC", "start": 22, "end": 28},
            ],
            "Nothing to see.": [],
        }
    )
    report = run_eval("ner", data, model=model)
    assert report.metrics["f1"] == 1.0
    assert model.calls[0][1]["labels"] == ["LOC", "PER"]
    assert set(report.groups) == {"LOC", "PER"}


def test_run_eval_naive_ner_counts_ungrounded(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "ner.jsonl", NER_ROWS)
    model = FakeModel(chat_answers={"Ada Lovelace": "Ada Lovelace | PER\nCharles Babbage | PER"})
    report = run_eval("ner", data, model=model, method="naive")
    assert report.metrics["ungrounded"] == 1
    assert report.metrics["precision"] == 0.5 and report.metrics["recall"] == 0.5
    assert "PER, LOC" not in model.calls[0][1]["prompt"] and "LOC, PER" in model.calls[0][1]["prompt"]


def test_run_eval_summaries_default_to_mean_reference_length(tmp_path: Path) -> None:
    rows = [
        {"document": "Doc one is long.", "references": ["one two three four", "one two"]},  # mean 3 words
        {"document": "Doc two is long.", "summary": "one two three four five"},  # 5 words
    ]
    data = write_jsonl(tmp_path / "summarization.jsonl", rows)
    model = FakeModel({"Doc one is long.": "one two three four", "Doc two is long.": "one two three four five"})
    report = run_eval("summarization", data, model=model)
    assert model.calls[0][1]["max_words"] == 4 and model.calls[0][1]["num_beams"] == 1  # the task's default
    assert report.settings["max_words"] == 4 and report.settings["num_beams"] == 1
    assert report.settings["max_words_from"] == "mean reference length"
    assert report.metrics["rouge1"] == pytest.approx(1.0)
    assert report.metrics["reference_words"] == 4.0
    given = run_eval("summarize", data, model=model, max_words=10, num_beams=4)
    assert model.calls[-1][1]["num_beams"] == 4
    assert given.settings == {"batch_size": 8, "max_words": 10, "max_words_from": "given", "num_beams": 4,
                              "limit": None, "split": "all"}


def test_run_eval_summaries_count_unsupported_claims_and_budget(tmp_path: Path) -> None:
    rows = [
        {"document": "Sales rose 5% in Leeds.", "summary": "Sales rose."},
        {"document": "The team won twice.", "summary": "They won."},
    ]
    data = write_jsonl(tmp_path / "summarization.jsonl", rows)
    # The first invents "9%" and "York"; the second says only what its text says.
    model = FakeModel({"Sales rose 5% in Leeds.": "Sales rose 9% in York.", "The team won twice.": "The team won twice."})
    report = run_eval("summarize", data, model=model, max_words=5)
    assert report.metrics["unsupported_count"] == 2 and report.metrics["unsupported_share"] == 0.5
    assert report.metrics["budget_ratio"] == pytest.approx(4.5 / 5)


def test_run_eval_translation_per_direction(tmp_path: Path) -> None:
    rows = [
        {"source": "The cat is black.", "target": "Le chat est noir.", "src_lang": "en", "tgt_lang": "fr"},
        {"source": "Der Hund schläft.", "target": "The dog sleeps.", "src_lang": "de", "tgt_lang": "en"},
        {"source": "The sky is blue.", "target": "Le ciel est bleu.", "src_lang": "en", "tgt_lang": "fr"},
    ]
    data = write_jsonl(tmp_path / "translation.jsonl", rows)
    model = FakeModel(
        {
            "The cat is black.": "Le chat est noir.",
            "The sky is blue.": "Le ciel est bleu.",
            "Der Hund schläft.": "Der Hund schläft.",
        }
    )
    report = run_eval("translate", data, model=model, num_beams=2)
    assert [c[1] for c in model.calls] == [
        {"n": 2, "target": "fr", "source": "en", "num_beams": 2},
        {"n": 1, "target": "en", "source": "de", "num_beams": 2},
    ]
    assert report.settings["num_beams"] == 2
    assert list(report.groups) == ["en-fr", "de-en"]
    assert report.groups["en-fr"]["chrf++"] == pytest.approx(100.0)
    assert report.groups["de-en"]["copy_share"] == 1.0
    assert report.metrics["copy_share"] == pytest.approx(1 / 3)
    assert report.metrics["chrf++"] == pytest.approx((100.0 + report.groups["de-en"]["chrf++"]) / 2)
    assert report.groups["en-fr"]["length_ratio"] == 1.0
    assert report.groups["de-en"]["length_ratio"] == pytest.approx(len("Der Hund schläft.") / len("The dog sleeps."))
    assert report.metrics["length_ratio"] == pytest.approx((1.0 + report.groups["de-en"]["length_ratio"]) / 2)


def test_run_eval_naive_translation_prompt_names_languages(tmp_path: Path) -> None:
    rows = [{"source": "Bonjour.", "target": "Hello.", "src_lang": "fr", "tgt_lang": "en"}]
    model = FakeModel(chat_answers={"Bonjour.": "Hello."})
    report = run_eval("translate", write_jsonl(tmp_path / "t.jsonl", rows), model=model, method="naive")
    assert model.calls[0][1]["prompt"].startswith("Translate the following text from French to English.")
    assert report.metrics["bleu"] == pytest.approx(0.0) or report.metrics["chrf++"] == pytest.approx(100.0)


def test_run_eval_limit(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sentiment.jsonl", SENTIMENT_ROWS)
    model = FakeModel({"I love it.": ("positive", 0.9), "Works great.": ("positive", 0.8)})
    report = run_eval("sentiment", data, model=model, limit=2)
    assert report.n_examples == 2 and report.settings["limit"] == 2


def test_run_eval_checks_the_file_before_loading_a_model(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "sentiment.jsonl", [{"text": "No label."}])
    with pytest.raises(InvalidInputError, match="line 1: field 'label' is missing"):
        run_eval("sentiment", data, model="no-such-model")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "clever"}, "unknown method"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_words": 0}, "max_words"),
        ({"backend": "torch"}, "backend and device only apply"),
        ({"device": "cuda"}, "backend and device only apply"),
        ({"num_beams": 2}, "num_beams does not apply to the llamatasks sentiment evaluation"),
    ],
)
def test_run_eval_rejects_bad_options(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    data = write_jsonl(tmp_path / "sentiment.jsonl", SENTIMENT_ROWS)
    with pytest.raises(InvalidInputError, match=message):
        run_eval("sentiment", data, model=FakeModel(), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_beams": 0}, "num_beams must be"),
        ({"num_beams": 17}, "num_beams must be at most 16"),
        ({"num_beams": 2, "method": "naive"}, "num_beams does not apply to the naive summarize evaluation"),
    ],
)
def test_run_eval_rejects_bad_beam_widths(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    data = write_jsonl(tmp_path / "s.jsonl", [{"document": "Doc.", "summary": "Short."}])
    model = FakeModel({"Doc.": "Short."})
    with pytest.raises(InvalidInputError, match=message):
        run_eval("summarize", data, model=model, **kwargs)
    assert model.calls == []


def test_run_eval_rejects_a_model_that_drops_results(tmp_path: Path) -> None:
    class DroppingModel(FakeModel):
        def summarize(self, texts: list[str], /, *, max_words: int | None = None,
                      num_beams: int | None = None) -> list[SimpleNamespace]:
            return super().summarize(texts, max_words=max_words, num_beams=num_beams)[:-1]

    data = write_jsonl(tmp_path / "s.jsonl", [{"document": "Doc.", "summary": "Short."}])
    with pytest.raises(LlamaTasksError, match="returned 0 results for a batch of 1 inputs"):
        run_eval("summarize", data, model=DroppingModel({"Doc.": "Short."}))


def test_missing_metric_package_fails_with_an_install_hint() -> None:
    from llamatasks.evaluation.runner import check_dependencies

    check_dependencies(("json",))
    with pytest.raises(ImportError, match="no_such_metric_package") as caught:
        check_dependencies(("json", "no_such_metric_package"))
    assert isinstance(caught.value, LlamaTasksError)
    assert "llamatasks[eval]" in caught.value.hint


def test_report_tables_render(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "ner.jsonl", NER_ROWS)
    model = FakeModel({"Ada Lovelace lived in London.": [], "Nothing to see.": []})
    report = run_eval("ner", data, model=model)
    console = Console(file=StringIO(), width=120)
    eval_cli.print_report(report, console)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert "ner · llamatasks" in output and "fake-135m (fake)" in output
    assert "ungrounded" in output and "by label" in output


# --- CLI -------------------------------------------------------------------------------------------


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.command("eval")(eval_cli.eval_command)
    app.command("noop")(lambda: None)  # a second command keeps "eval" a subcommand
    return app


def test_cli_prints_table_and_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(tmp_path / "sentiment.jsonl", SENTIMENT_ROWS)
    fake = FakeModel({row["text"]: (row["label"], 0.9) for row in SENTIMENT_ROWS})
    monkeypatch.setattr(eval_cli, "run_eval", lambda *args, **kwargs: run_eval(*args, **{**kwargs, "model": fake}))
    out = tmp_path / "out" / "report.json"
    result = CliRunner().invoke(cli_app(), ["eval", "sentiment", "--data", str(data), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output
    assert json.loads(out.read_text())["metrics"]["accuracy"] == 1.0


def test_cli_beams_reach_the_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(tmp_path / "t.jsonl", [{"source": "Bonjour.", "target": "Hello.", "src_lang": "fr", "tgt_lang": "en"}])
    fake = FakeModel({"Bonjour.": "Hello."})
    monkeypatch.setattr(eval_cli, "run_eval", lambda *args, **kwargs: run_eval(*args, **{**kwargs, "model": fake}))
    result = CliRunner().invoke(cli_app(), ["eval", "translate", "--data", str(data), "--beams", "1"])
    assert result.exit_code == 0, result.output
    assert fake.calls[0][1]["num_beams"] == 1


def test_cli_lets_llamatasks_errors_reach_the_entry_point(tmp_path: Path) -> None:
    # llamatasks.cli.main prints LlamaTasksError with its hint; the command must not swallow it.
    data = write_jsonl(tmp_path / "ner.jsonl", ["{oops"])
    result = CliRunner().invoke(cli_app(), ["eval", "ner", "--data", str(data), "--model", "no-such-model"])
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInputError)
    assert "line 1: not valid JSON" in str(result.exception)


def test_core_cli_registers_eval() -> None:
    from llamatasks.cli import add_plugin_commands, app

    add_plugin_commands()  # as main() does: eval comes through register_commands, from a built-in plugin
    result = CliRunner().invoke(app, ["eval", "--help"])
    assert result.exit_code == 0, result.output
    assert "--data" in result.output and "--method" in result.output
