"""Named entities: spans proposed from the text, labelled by label likelihood.

Offsets are computed by llamatasks on characters of the input (tokenizer
offset mappings are unreliable for LLaMA 3 tokenizers), so for every entity
``text[start:end] == entity.text``. Each mention is labelled in the context of
its own sentence; long texts are handled sentence by sentence, so offsets
are those of the whole text. Names are proposed and scored on the text in NFC
without zero-width characters (``normalize``), then mapped back to the input.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.results import Entities, Entity
from llamatasks.tasks.base import Task, TaskModel
from llamatasks.tasks.chunking import Chunk, sentence_chunks
from llamatasks.tasks.common import text_budget
from llamatasks.tasks.normalize import normalize_text
from llamatasks.tasks.options import Flag, OptionText, TaskOptions
from llamatasks.tasks.scoring import label_distributions
from llamatasks.tasks.spans import Candidate, lowercase_words, propose_names

DEFAULT_LABELS = ("PER", "ORG", "LOC", "MISC")

# Words that complete '"X" is the name of a ...' for each label; only each
# word's first token is scored, so one forward pass labels a mention.
VERBALIZERS: dict[str, tuple[str, ...]] = {
    "PER": ("person", "man", "woman", "singer", "player", "politician", "writer", "actor"),
    "ORG": ("company", "organization", "team", "band", "club", "university", "party", "newspaper"),
    "LOC": ("place", "city", "country", "town", "river", "region", "state", "mountain", "island"),
    "MISC": ("film", "book", "song", "language", "event", "nationality", "album", "game", "religion", "product"),
}

_CONTENT_FREE = (("N/A", "N/A"), ("[MASK]", "[MASK]"), ("Name.", "Name"))
# The prior those three give is extreme (PER 0.78, LOC 0.19, MISC 0.02, ORG 0.01 on
# the default model): divided out in full it turns most places into organizations
# (dev set: ORG recall 0.77 at precision 0.34, LOC recall 0.31). Raised to this
# power first, it is shrunk toward uniform: dev F1 0.495 -> 0.554, with 0.55 for
# any power from 0.6 to 0.8 (0.50 at 0.5, 0.53 at 0.9).
_PRIOR_STRENGTH = 0.7

_EXAMPLES = (
    ("Angela Merkel met Toyota executives in Japan.", "Toyota", "company"),
    ("Angela Merkel met Toyota executives in Japan.", "Angela Merkel", "person"),
    ("The Danube flows through Vienna.", "Vienna", "city"),
)


class NerOptions(TaskOptions):
    """Options of ``ner``."""

    task_name = "ner"

    labels: Annotated[tuple[OptionText, ...] | dict[OptionText, OptionText] | None, Flag("--labels", "-l", split=",")] = (
        Field(default=None, description=(
            "Labels to find: names (PER, ORG, LOC, MISC and others, scored by their lower-cased name) or a map "
            'from label to the word that describes it ({"DRUG": "medicine"}); default PER, ORG, LOC, MISC.')))

    @field_validator("labels")
    @classmethod
    def _some(cls, labels: tuple[str, ...] | dict[str, str] | None) -> tuple[str, ...] | dict[str, str] | None:
        if labels is not None and not labels:
            raise ValueError("labels is empty: omit it for PER, ORG, LOC and MISC")
        if isinstance(labels, tuple) and len(set(labels)) != len(labels):
            raise ValueError("labels must be distinct")
        return labels


def _label_words(labels: Sequence[str] | Mapping[str, str] | None) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Requested labels, and verbalizers for every label scored (defaults always compete)."""
    if labels is None:
        requested = list(DEFAULT_LABELS)
        extra: dict[str, tuple[str, ...]] = {}
    elif isinstance(labels, Mapping):
        requested = list(labels)
        extra = {k: (v,) for k, v in labels.items() if k not in VERBALIZERS}
    else:
        requested = list(labels)
        extra = {k: (k.lower(),) for k in requested if k not in VERBALIZERS}
    # Unrequested default labels still compete, so that asking only for PER does
    # not turn every place into a person; their entities are dropped afterwards.
    return requested, {**VERBALIZERS, **extra}


class NerTask(Task[NerOptions]):
    """Named-entity recognition with grounded, character-exact spans."""

    name = "ner"
    result_type = Entities
    Options = NerOptions
    description = "named entities (PER/ORG/LOC/MISC by default) as exact spans of the input"

    def _prompt(self, model: TaskModel, context: str, mention: str) -> Prompt:
        question = "What kind of name is it: a person, an organization, a place or something else?"
        messages = [Message("system", "You recognize names of people, organizations, places and other things.")]
        if not model.prompt_format.chat:
            for sentence, span, kind in _EXAMPLES:
                messages += [Message("user", f'{question}\nSentence: {sentence}\nName: "{span}".'),
                             Message("assistant", f'"{span}" is the name of a {kind}.')]
        # The question first, then the sentence, then the name: a sentence's mentions share all but
        # their last few tokens, which the engine runs once (engine.prefixes.plan_prefixes).
        messages.append(Message("user", [f"{question}\nSentence: ", User(context), '\nName: "', User(mention), '".']))
        return model.renderer.render(messages, answer_prefix=['"', User(mention), '" is the name of a'])

    def _contexts(self, model: TaskModel, text: str) -> list[Chunk]:
        """Sentences of ``text``; a sentence too long for the context is split."""
        budget = text_budget(model, lambda t: self._prompt(model, t, t[:40]), reserve=4)
        return sentence_chunks(text, model.tokenizer.count, budget)

    def _mentions(self, model: TaskModel, text: str) -> list[tuple[Chunk, Candidate]]:
        """Each name with the sentence it is labelled in, both of the normalised text (what the
        model reads: a zero-width space or decomposed accent must not cut a name); each
        name's ``start``/``end`` are offsets in ``text`` itself."""
        normalized = normalize_text(text)
        lowercase = lowercase_words(normalized.text)
        return [(ctx, cand) for ctx in self._contexts(model, normalized.text)
                for cand in propose_names(normalized, ctx.start, ctx.end, lowercase)]

    def prompts(self, model: TaskModel, text: str, options: NerOptions) -> list[Prompt]:
        return [self._prompt(model, ctx.text, c.name) for ctx, c in self._mentions(model, text)]

    def run(self, model: TaskModel, texts: list[str], options: NerOptions) -> Sequence[BaseModel]:
        requested, verbalizers = _label_words(options.labels)
        started = time.perf_counter()
        mentions = [self._mentions(model, t) for t in texts]
        unique: dict[tuple[str, str], int] = {}
        prompts: list[Prompt] = []
        for text, found in zip(texts, mentions):
            for ctx, cand in found:
                key = (ctx.text, cand.name)
                if key not in unique:
                    unique[key] = len(prompts)
                    prompts.append(self._prompt(model, *key))
        # Contextual calibration against content-free mentions: without it the
        # model's prior for "person" words labels most names PER (dev F1 0.26 -> 0.40).
        free = [self._prompt(model, context, mention) for context, mention in _CONTENT_FREE]
        dists = label_distributions(model, prompts, verbalizers, lead=" ", first_token_only=True,
                                    content_free=free, prior_strength=_PRIOR_STRENGTH) if prompts else []
        seconds = (time.perf_counter() - started) / len(texts)
        results = []
        for text, found in zip(texts, mentions):
            entities, tokens_in = [], 0
            for ctx, cand in found:
                index = unique[(ctx.text, cand.name)]
                dist = dists[index]
                label = max(dist, key=dist.__getitem__)
                tokens_in += len(prompts[index].ids)
                if label in requested:
                    entities.append(Entity(text=text[cand.start:cand.end], label=label, start=cand.start,
                                           end=cand.end, score=dist[label]))
            contexts = len({(ctx.start, ctx.end) for ctx, _ in found})
            prov = model.provenance(tokens_in=tokens_in, tokens_out=0, seconds=seconds, chunks=max(1, contexts))
            results.append(Entities(entities=entities, provenance=prov))
        return results
