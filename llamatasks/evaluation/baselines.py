"""The naive baseline: ask the model for the answer as text and parse it (spacy-llm style).

Built only on ``model.chat`` (greedy, the model's own chat format), one prompt per example.
It is the yardstick the typed tasks have to beat, so it is kept deliberately plain: a fixed
prompt, a lenient parser, and no retries. What it cannot parse counts against it: an answer
with no (or more than one) label is wrong, and an entity string that does not occur in the
text is kept as an ungrounded prediction with offsets -1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .data import TranslationExample
from .predictions import ChatModel, LabelPrediction, Progress, SpanPrediction

SENTIMENT_PROMPT = "Is the sentiment of this text {choices}? Answer with one word.\n\nText: {text}"
NER_PROMPT = (
    "Find the named entities in the text. Use only these labels: {labels}.\n"
    "Write one entity per line as: entity | LABEL\n\nText: {text}"
)
SUMMARY_PROMPT = "Summarize the following text in one sentence.\n\n{text}"
TRANSLATION_PROMPT = "Translate the following text from {source} to {target}.\n\n{text}"

# Token budgets: room for the expected answer plus the usual preamble, not for unbounded rambling.
SENTIMENT_MAX_TOKENS = 16
NER_MAX_TOKENS = 128
SUMMARY_MAX_TOKENS = 128
TRANSLATION_MAX_TOKENS = 160

# Bullets and numbering a model may put in front of "entity | LABEL" lines.
_LINE_PREFIX = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def naive_sentiment(
    model: ChatModel, texts: Sequence[str], labels: Sequence[str], progress: Progress
) -> list[LabelPrediction]:
    """Ask "Is the sentiment of this text positive or negative?" (``labels`` in order) and parse the label.

    The baseline has no confidence to report.
    """
    prompts = [SENTIMENT_PROMPT.format(choices=or_list(labels), text=text) for text in texts]
    answers = ask_each(model, prompts, SENTIMENT_MAX_TOKENS, progress)
    return [LabelPrediction(label=parse_label(answer, labels)) for answer in answers]


def naive_entities(
    model: ChatModel, texts: Sequence[str], labels: Sequence[str], progress: Progress
) -> list[list[SpanPrediction]]:
    """Ask for "entity | LABEL" lines, parse them, and locate each entity in the text with ``str.find``."""
    prompts = [NER_PROMPT.format(labels=", ".join(labels), text=text) for text in texts]
    answers = ask_each(model, prompts, NER_MAX_TOKENS, progress)
    return [
        locate_entities(text, parse_entity_lines(answer, labels)) for text, answer in zip(texts, answers, strict=True)
    ]


def naive_summaries(model: ChatModel, texts: Sequence[str], progress: Progress) -> list[str]:
    """Ask for a one-sentence summary; the answer is the summary."""
    prompts = [SUMMARY_PROMPT.format(text=text) for text in texts]
    return ask_each(model, prompts, SUMMARY_MAX_TOKENS, progress)


def naive_translations(model: ChatModel, examples: Sequence[TranslationExample], progress: Progress) -> list[str]:
    """Ask "Translate the following text from X to Y"; the answer is the translation."""
    prompts = [
        TRANSLATION_PROMPT.format(
            source=language_name(example.src_lang), target=language_name(example.tgt_lang), text=example.source
        )
        for example in examples
    ]
    return ask_each(model, prompts, TRANSLATION_MAX_TOKENS, progress)


def ask_each(model: ChatModel, prompts: Sequence[str], max_new_tokens: int, progress: Progress) -> list[str]:
    """Send each prompt to ``model.chat`` and return the stripped answers."""
    answers: list[str] = []
    for prompt in prompts:
        answers.append(model.chat(prompt, max_new_tokens=max_new_tokens).text.strip())
        progress.update(1)
    return answers


def parse_label(answer: str, labels: Sequence[str]) -> str | None:
    """The one label named in ``answer`` as a whole word (any case); ``None`` if none or several are."""
    folded = answer.casefold()
    found = [label for label in labels if re.search(rf"\b{re.escape(label.casefold())}\b", folded)]
    return found[0] if len(found) == 1 else None


def parse_entity_lines(answer: str, labels: Sequence[str]) -> list[tuple[str, str]]:
    """Read ``entity | LABEL`` lines; other lines are ignored.

    Labels are matched to ``labels`` ignoring case; a label outside the set is kept as written,
    so it counts as a wrong prediction rather than vanishing.
    """
    canonical = {label.casefold(): label for label in labels}
    pairs: list[tuple[str, str]] = []
    for line in answer.splitlines():
        entity, separator, label = _LINE_PREFIX.sub("", line).partition("|")
        entity, label = entity.strip().strip("\"'"), label.strip().strip(".,;:\"'").strip()
        if separator and entity and label:
            pairs.append((entity, canonical.get(label.casefold(), label)))
    return pairs


def locate_entities(text: str, pairs: Sequence[tuple[str, str]]) -> list[SpanPrediction]:
    """Turn (entity string, label) pairs into spans by searching ``text``.

    A string listed again is searched for after its previous match, so repeated mentions map to
    successive occurrences (or back to the first when the text has no more). A string not in the
    text gets offsets -1: an ungrounded prediction.
    """
    resume_at: dict[str, int] = {}
    spans: list[SpanPrediction] = []
    for entity, label in pairs:
        start = text.find(entity, resume_at.get(entity, 0))
        if start < 0:
            start = text.find(entity)
        if start < 0:
            spans.append(SpanPrediction(text=entity, label=label, start=-1, end=-1))
            continue
        resume_at[entity] = start + len(entity)
        spans.append(SpanPrediction(text=entity, label=label, start=start, end=start + len(entity)))
    return spans


def or_list(words: Sequence[str]) -> str:
    """``["a"]`` -> ``"a"``, ``["a", "b"]`` -> ``"a or b"``, ``["a", "b", "c"]`` -> ``"a, b or c"``."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"


def language_name(code: str) -> str:
    """The English name of a language code (``"fr"`` -> ``"French"``); the code itself if unknown."""
    import langcodes

    try:
        language = langcodes.Language.get(code)
    except ValueError:  # not a language tag at all, e.g. already a name such as "French"
        return code
    return str(language.display_name()) if language.is_valid() else code
