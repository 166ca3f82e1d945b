"""Translation by line and sentence groups, with the source language detected.

Texts are split at line breaks and, within a line, into groups of sentences
that fit a modest token budget (small models translate short pieces far
better than pages), then put back together with the original line breaks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from llamatasks.engine.base import GenerationOptions
from llamatasks.errors import InvalidInputError
from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.results import Translation
from llamatasks.tasks.base import Task, TaskModel
from llamatasks.tasks.chunking import chunk_text
from llamatasks.tasks.common import text_budget
from llamatasks.tasks.languages import (
    Language,
    detect_language,
    resolve_language,
    same_language,
)
from llamatasks.tasks.scripts import ScriptConstraint, script_constraint

_PIECE_TOKENS = 192  # upper bound on a piece, whatever the context length


class TranslateTask(Task):
    """Translate into ``target`` from ``source`` (detected when omitted)."""

    name = "translate"
    result_type = Translation
    description = "translation between languages given as codes or English names"

    def _prompt(self, model: TaskModel, text: str, source: Language, target: Language) -> Prompt:
        instruction = (f"Translate this {source.name} text into {target.name}. "
                       f"Reply with the {target.name} translation only.")
        messages = [Message("system", "You are a professional translator."),
                    Message("user", [instruction, "\n\n", User(text)])]
        # Prefilling "<Target language>:" makes the next words the translation
        # itself rather than a preamble ("The Chinese text is: ...").
        return model.renderer.render(messages, answer_prefix=f"{target.name}:")

    def _languages(self, text: str, options: dict[str, Any]) -> tuple[Language, Language, bool]:
        if not options.get("target"):
            raise InvalidInputError("translate needs target=", hint='e.g. translate(text, target="en")')
        target = resolve_language(options["target"])
        if options.get("source"):
            return resolve_language(options["source"]), target, False
        return detect_language(text), target, True

    def _pieces(self, model: TaskModel, text: str, source: Language, target: Language) -> list[str]:
        """Lines and line breaks of ``text``; long lines split into sentence groups."""
        # A piece of b tokens may need 2b + 16 to translate: keep 3b + 16 within the context.
        free = text_budget(model, lambda t: self._prompt(model, t, source, target), reserve=16)
        budget = max(1, min(_PIECE_TOKENS, free // 3))
        pieces: list[str] = []
        for part in re.split(r"(\s*\n\s*)", text):
            if not part.strip():
                pieces.append(part)
            else:
                pieces += [c.text for c in chunk_text(part, model.tokenizer.count, budget)]
        return pieces

    def prompts(self, model: TaskModel, text: str, **options: Any) -> list[Prompt]:
        source, target, _ = self._languages(text, options)
        return [self._prompt(model, p, source, target) for p in self._pieces(model, text, source, target) if p.strip()]

    def run(self, model: TaskModel, texts: list[str], **options: Any) -> Sequence[BaseModel]:
        started = time.perf_counter()
        plans = []
        prompts: list[Prompt] = []
        piece_tokens: list[int] = []
        for text in texts:
            source, target, detected = self._languages(text, options)
            pieces = [] if same_language(source, target) else self._pieces(model, text, source, target)
            slots = []
            for piece in pieces:
                slots.append(len(prompts) if piece.strip() else piece)
                if piece.strip():
                    prompts.append(self._prompt(model, piece.strip(), source, target))
                    piece_tokens.append(model.tokenizer.count(piece))
            plans.append((text, source, target, detected, slots))
        constraints = [script_constraint(model.tokenizer, target.code, model.profile.stop_token_ids)
                       for _, _, target, _, slots in plans for slot in slots if not isinstance(slot, str)]
        outputs = self._generate(model, prompts, max(piece_tokens, default=0), constraints)
        seconds = (time.perf_counter() - started) / len(texts)
        return [self._assemble(model, plan, prompts, outputs, seconds) for plan in plans]

    def _generate(self, model: TaskModel, prompts: list[Prompt], longest_piece: int,
                  constraints: list[ScriptConstraint | None]) -> list[tuple[str, int]]:
        if not prompts:
            return []
        room = max(1, model.profile.context_length - max(len(p.ids) for p in prompts))
        options = GenerationOptions(max_new_tokens=min(2 * longest_piece + 16, room), no_repeat_ngram_size=4,
                                    stop_token_ids=model.profile.stop_token_ids)
        results = []
        for out in model.generate(prompts, options, constraints if any(constraints) else None):
            text = model.tokenizer.decode(out.token_ids)
            # The answer is the first non-empty line: small models add notes after it.
            line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
            results.append((line, len(out.token_ids)))
        return results

    def _assemble(self, model: TaskModel, plan: tuple[Any, ...], prompts: list[Prompt],
                  outputs: list[tuple[str, int]], seconds: float) -> Translation:
        text, source, target, detected, slots = plan
        if not slots:  # already in the target language
            prov = model.provenance(tokens_in=0, tokens_out=0, seconds=seconds)
            return Translation(text=text, source=source.code, target=target.code, source_detected=detected, provenance=prov)
        parts, tin, tout, n = [], 0, 0, 0
        for slot in slots:
            if isinstance(slot, str):
                parts.append(slot)
                continue
            parts.append(outputs[slot][0])
            tin, tout, n = tin + len(prompts[slot].ids), tout + outputs[slot][1], n + 1
        joined = "".join(_space_between(parts))
        prov = model.provenance(tokens_in=tin, tokens_out=tout, seconds=seconds, chunks=max(1, n))
        return Translation(text=joined, source=source.code, target=target.code, source_detected=detected,
                           provenance=prov)


def _space_between(parts: list[str]) -> list[str]:
    """Join translated sentence groups of one line with a space; keep line breaks as they were."""
    out: list[str] = []
    for part in parts:
        if out and out[-1].strip() and part.strip():
            out.append(" ")
        out.append(part)
    return out
