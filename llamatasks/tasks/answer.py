"""Extractive question answering: the answer is always a span of the context.

Generation is constrained token by token to continue some contiguous run of
the context's own tokens, so the model can only copy; the copied text is then
located in the context by character offsets. A small model that cannot be
trusted to quote can still point.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field

from llamatasks.engine.base import GenerationOptions, GenerationOutput, ScoreRequest
from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.results import Answer
from llamatasks.tasks.base import Task, TaskModel
from llamatasks.tasks.chunking import Chunk
from llamatasks.tasks.common import split_for
from llamatasks.tasks.options import Flag, OptionText, TaskOptions

_MAX_ANSWER_TOKENS = 48


class AnswerOptions(TaskOptions):
    """Options of ``answer``: the question asked of each context."""

    task_name = "answer"

    question: Annotated[OptionText, Flag(positional=True)] = Field(description=(
        "The question; the answer is a span of the context that answers it."))


class SubstringConstraint:
    """Allows only token sequences that occur contiguously in ``source_ids``.

    Each step extends the previous step's matches instead of searching the
    source again (a step costs the number of places the answer so far occurs,
    not the length of the context), so long contexts stay fast.
    """

    def __init__(self, source_ids: Sequence[int], stop_ids: Sequence[int], final_ids: Sequence[int] = ()) -> None:
        self.source = list(source_ids)
        self.stop = list(stop_ids)
        self.final = set(final_ids)  # tokens that end a sentence: the answer ends with them
        self.starts = sorted(set(self.source) - self.final)
        # generated prefix -> the positions in source right after each occurrence of it
        self._after: dict[tuple[int, ...], list[int]] = {(): list(range(len(self.source)))}

    def allowed_tokens(self, generated: Sequence[int]) -> Sequence[int] | None:
        if not generated:
            return self.starts
        if generated[-1] in self.final:
            return self.stop
        nexts = {self.source[i] for i in self._ends(tuple(generated)) if i < len(self.source)}
        return sorted(nexts) + self.stop

    def _ends(self, prefix: tuple[int, ...]) -> list[int]:
        known = self._after.get(prefix)
        if known is None:
            token = prefix[-1]
            known = [i + 1 for i in self._ends(prefix[:-1]) if i < len(self.source) and self.source[i] == token]
            if len(self._after) > 4096:  # many beams over a long answer: start over rather than grow
                self._after = {(): self._after[()]}
            self._after[prefix] = known
        return known


def locate(context: str, answer: str) -> tuple[int, int] | None:
    """Character span of ``answer`` in ``context`` (first occurrence), or None."""
    answer = answer.strip().rstrip(".;!?。").strip()
    if not answer:
        return None
    start = context.find(answer)
    return (start, start + len(answer)) if start >= 0 else None


class AnswerTask(Task[AnswerOptions]):
    """``answer(question, context)``: a span of the context, never invented text."""

    name = "answer"
    result_type = Answer
    description = "extractive question answering; the answer is a span of the context with offsets"
    Options = AnswerOptions

    def _prompt(self, model: TaskModel, context: str, question: str) -> Prompt:
        messages = [Message("system", "You answer questions by quoting the text."),
                    Message("user", ["Text: ", User(context), "\n\nQuestion: ", User(question),
                                     "\nAnswer with the exact words from the text."])]
        # Prefilling "Answer:" makes the first answer token a mid-sentence one
        # (" Steve", with its space), the form context tokens take.
        return model.renderer.render(messages, answer_prefix="Answer:")

    def prompts(self, model: TaskModel, text: str, options: AnswerOptions) -> list[Prompt]:
        question = options.question
        chunks = split_for(model, text, lambda t: self._prompt(model, t, question), reserve=_MAX_ANSWER_TOKENS)
        return [self._prompt(model, c.text, question) for c in chunks]

    #: Generate and score every text's chunks in one call each (False: one text at a time, the
    #: old way, kept for bench/bench_core.py to measure against).
    batch_texts: ClassVar[bool] = True

    def run(self, model: TaskModel, texts: list[str], options: AnswerOptions) -> Sequence[BaseModel]:
        if not self.batch_texts and len(texts) > 1:
            return [result for text in texts for result in self.run(model, [text], options)]
        question = options.question
        started = time.perf_counter()
        chunks = [split_for(model, t, lambda c: self._prompt(model, c, question), reserve=_MAX_ANSWER_TOKENS)
                  for t in texts]
        flat = [c for each in chunks for c in each]
        prompts = [self._prompt(model, c.text, question) for c in flat]
        constraints = [self._constraint(model, c.text) for c in flat]
        options_ = GenerationOptions(max_new_tokens=_MAX_ANSWER_TOKENS, stop_token_ids=model.profile.stop_token_ids)
        outputs = model.generate(prompts, options_, constraints)
        quotes = []  # (index into flat, span in that chunk)
        for i, (chunk, out) in enumerate(zip(flat, outputs)):
            span = locate(chunk.text, model.tokenizer.decode(out.token_ids))
            if span is not None:
                quotes.append((i, span))
        requests = [ScoreRequest(prompt=tuple(prompts[i].ids), continuations=(tuple(outputs[i].token_ids),))
                    for i, _ in quotes]
        # The quote's mean per-token log-probability, scored without the constraint.
        means = {i: row[0] / len(outputs[i].token_ids)
                 for row, (i, _) in zip(model.score(requests) if requests else [], quotes)}
        spans = dict(quotes)
        seconds = (time.perf_counter() - started) / len(texts)
        results, first = [], 0
        for context, own in zip(texts, chunks):
            idx = range(first, first + len(own))
            first += len(own)
            results.append(self._best(model, context, flat, prompts, outputs, idx, spans, means, seconds))
        return results

    @staticmethod
    def _constraint(model: TaskModel, text: str) -> SubstringConstraint:
        ids = model.tokenizer.encode_inner(" " + text)
        final = [i for i in set(ids) if any(p in model.tokenizer.decode([i]) for p in ".;!?。")]
        return SubstringConstraint(ids, model.profile.stop_token_ids, final)

    def _best(self, model: TaskModel, context: str, chunks: Sequence[Chunk], prompts: Sequence[Prompt],
              outputs: Sequence[GenerationOutput], idx: range, spans: dict[int, tuple[int, int]],
              means: dict[int, float], seconds: float) -> Answer:
        """The quote the model is surest of, over the chunks ``idx`` of one context.

        Every chunk yields a quote (the constraint allows nothing else), so they
        compete by the model's own mean per-token probability of the quote.
        """
        tokens_in = sum(len(prompts[i].ids) for i in idx)
        tokens_out = sum(len(outputs[i].token_ids) for i in idx)
        scored = [i for i in idx if i in means]
        if not scored:
            prov = model.provenance(tokens_in=tokens_in, tokens_out=0, seconds=seconds, chunks=len(idx))
            return Answer(text="", start=0, end=0, found=False, score=0.0, provenance=prov)
        best = max(scored, key=means.__getitem__)
        start, end = chunks[best].start + spans[best][0], chunks[best].start + spans[best][1]
        prov = model.provenance(tokens_in=tokens_in, tokens_out=tokens_out, seconds=seconds, chunks=len(idx))
        return Answer(text=context[start:end], start=start, end=end, found=True, score=math.exp(means[best]),
                      provenance=prov)
