"""Translation sentence by sentence, with the source language detected.

Texts are split at line breaks and each line into its sentences, which are
translated as separate pieces in one batch and put back together with the
original line breaks. Small models translate one sentence far better than
several: given four sentences at once, the default model returned about half
of the content and sometimes only the first line of its answer (on paragraphs
of four dev sentences, en<->fr/de chrF++ 17.6 as groups, 25.8 by sentence).
A sentence too long for the piece budget is split at word boundaries.

Decoding is greedy and source-contrastive (Sennrich et al., EACL 2024): each
token is chosen by ``1.5 log p(t | prompt) - 0.5 log p(t | the same prompt with
another source sentence)``. Tokens the model would write whatever the source,
such as the built-in example's content or stock phrases, gain nothing over the
contrast, so the output follows the source more closely. On the dev set it
raised en<->fr/de chrF++ from 20.62 with 4 beams to 22.30, in less time; beam
search (``num_beams > 1``) remains available, without the contrast. Repeated
4-grams are banned within the translation only, not the prompt's, so the
source's names, numbers and terms can be copied (22.30 -> 22.86).

Small models often hand the source back instead of translating it. Every
piece is checked (``looks_copied``: the output is the source, or it is in the
source language rather than the target and mostly repeats the source); a
copied piece is generated again with a repetition penalty over the prompt,
which makes repeating the source's tokens expensive, and a piece still copied
after that retry sets ``Translation.copied_source`` rather than passing the
source off as a translation.

``Translation.confidence`` asks whether the output comes from the source: the
output's tokens are scored once more after the same prompt with another source
sentence, and the mean per-token log-ratio ``log p(t | source) - log p(t |
other)`` goes through a sigmoid (0.5: the output owes nothing to the source).
The plain probability of the tokens does not tell good from bad here: a small
model writing Chinese it cannot write is as sure of its tokens as of good
French (bench/translation_confidence.py: AUROC 0.55, and en->zh scored highest),
where the ratio ranks them (docs/quality.md).
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
import warnings
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from llamatasks.engine.base import (
    MAX_BEAMS,
    Capability,
    GenerationOptions,
    ScoreRequest,
)
from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.results import Translation
from llamatasks.tasks.base import Task, TaskModel
from llamatasks.tasks.chunking import sentence_chunks
from llamatasks.tasks.common import text_budget
from llamatasks.tasks.inputs import valid_unicode
from llamatasks.tasks.languages import (
    Language,
    detect_language,
    resolve_language,
    same_language,
)
from llamatasks.tasks.options import Flag, TaskOptions
from llamatasks.tasks.scripts import (
    ScriptConstraint,
    script_constraint,
    script_share,
    target_script,
)
from llamatasks.tasks.translation_examples import examples_for, other_sentence

_PIECE_TOKENS = 192  # upper bound on a piece (a sentence longer than this is split), whatever the context length
_RETRY_PENALTY = 1.3  # repetition penalty for a piece that came back copied
_COPY_SIMILARITY = 0.6  # character similarity to the source above which source-language output is a copy
_CONTRAST_WEIGHT = 0.5  # w in (1 + w) log p(t | source) - w log p(t | another sentence)


_SHOTS = 1  # built-in examples shown to a chat model (bench/ablate_translate.py: 1 beat 0, 2 and 3)
_BASE_SHOTS = 3  # a base model has no instruction to follow: the examples define the task
_SHOT_SHARE = 8  # the examples may take at most 1/8 of the context


#: A translation whose confidence is below this is flagged ``low_confidence``. Chosen on the tune half
#: of the dev split by bench/translation_confidence.py (Youden's J for chrF++ below the median, default
#: model); docs/quality.md gives the check half's figures: a hint, not a verdict.
LOW_CONFIDENCE = 0.85
_MIN_SCRIPT_SHARE = 0.5  # below this share of letters in the target's script, the output is flagged
_Output = tuple[str, tuple[int, ...], float]  # the line, the generated ids, their summed log-probability


class UnreliableTranslationWarning(UserWarning):
    """A translation came back flagged: wrong script, low confidence, or copied source."""


class TranslateOptions(TaskOptions):
    """Options of ``translate``."""

    task_name = "translate"

    target: Annotated[str, Flag("--to", "-t")] = Field(strict=True, min_length=1, description=(
        "Target language: a code (fr, pt-BR) or an English or native name (French, français)."))
    source: Annotated[str | None, Flag("--from", "-s")] = Field(default=None, strict=True, min_length=1, description=(
        "Source language, as target; detected per text when omitted."))
    num_beams: Annotated[int, Flag("--num-beams", "--beams")] = Field(default=1, ge=1, le=MAX_BEAMS, strict=True, description=(
        "Beam search width; 1 decodes greedily with source-contrastive decoding (each token weighed against "
        "the same prompt with another source sentence), which beat 4 beams without it (docs/quality.md); "
        "more searches beams without the contrast."))

    @field_validator("target", "source")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else valid_unicode(value, "the language")


def _shots(model: TaskModel, source: Language, target: Language) -> list[tuple[str, str]]:
    """The built-in examples for this direction that fit the context (fewer on small contexts)."""
    chosen: list[tuple[str, str]] = []
    room = model.profile.context_length // _SHOT_SHARE
    count = _SHOTS if model.prompt_format.chat else _BASE_SHOTS
    for pair in examples_for(source.code, target.code)[:count]:
        room -= model.tokenizer.count(pair[0]) + model.tokenizer.count(pair[1]) + 32  # + instruction and turns
        if room < 0:
            break
        chosen.append(pair)
    return chosen


_LABEL_LINE = re.compile(r"^\s*\w+(?:[ -]\w+){0,2}\s*:\s*$")  # "English:", "German translation:"


def answer_line(text: str) -> str:
    """The translation in a generated answer: its first line with text.

    Small models add notes after the translation, and sometimes open with a
    label line of their own ("English:") before it; such a line is skipped.
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    while len(lines) > 1 and _LABEL_LINE.match(lines[0]):
        lines.pop(0)
    return lines[0] if lines else ""


def normalize_text(text: str) -> str:
    """``text`` for comparison: Unicode NFKC, case folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def looks_copied(output: str, source_text: str, source: Language, target: Language) -> bool:
    """Whether ``output`` hands back ``source_text`` instead of translating it.

    Names and numbers that the two share are set aside first: a translation
    keeps them, so a source that is only names is never copied, and "le South
    China Morning Post a rapporté dimanche" is judged by its French words. What
    is left is a copy when the two are equal after normalisation, or when the
    output is in the source language (never when it is in the target language)
    and its characters mostly match the source.
    """
    if same_language(source, target):
        return False
    out = normalize_text(_without_shared_names(output, source_text))
    src = normalize_text(_without_shared_names(source_text, output))
    if not _WORD.search(out) or not _WORD.search(src):
        return False
    detected = detect_language(out)
    if same_language(detected, target):
        return False
    if out == src:
        return True
    return same_language(detected, source) and SequenceMatcher(None, out, src, autojunk=False).ratio() >= _COPY_SIMILARITY


_WORD = re.compile(r"\w(?:[\w'’.-]*\w)?")


def _without_shared_names(text: str, other: str) -> str:
    """``text`` without the capitalised words and numbers that also occur in ``other``."""
    shared = {w for w in _WORD.findall(other) if w[0].isupper() or w[0].isdigit()}
    return _WORD.sub(lambda m: "" if m.group() in shared else m.group(), text)


class TranslateTask(Task[TranslateOptions]):
    """Translate into ``target`` from ``source`` (detected when omitted)."""

    name = "translate"
    result_type = Translation
    description = "translation between languages given as codes or English names"
    Options = TranslateOptions

    def _prompt(self, model: TaskModel, text: str, source: Language, target: Language) -> Prompt:
        instruction = (f"Translate this {source.name} text into {target.name}. "
                       f"Reply with the {target.name} translation only.")
        messages = [Message("system", "You are a professional translator.")]
        for example, translation in _shots(model, source, target):
            messages += [Message("user", [instruction, "\n\n", example]),
                         Message("assistant", f"{target.name}: {translation}")]
        messages.append(Message("user", [instruction, "\n\n", User(text)]))
        # Prefilling "<Target language>:" makes the next words the translation
        # itself rather than a preamble ("The Chinese text is: ...").
        return model.renderer.render(messages, answer_prefix=f"{target.name}:")

    def _contrasts(self, model: TaskModel, pieces_of: list[tuple[str, Language, Language]]) -> list[Prompt | None]:
        """Each piece's contrast prompt, built once per direction."""
        built: dict[tuple[Language, Language], Prompt | None] = {}
        for _, source, target in pieces_of:
            if (source, target) not in built:
                built[source, target] = self._contrast(model, source, target)
        return [built[source, target] for _, source, target in pieces_of]

    def _contrast(self, model: TaskModel, source: Language, target: Language) -> Prompt | None:
        """The prompt with another source sentence, for source-contrastive decoding (Sennrich et al., 2024).

        Tokens the model would write whatever the source (the shown example's
        content, stock phrases) score about as well here as with the real source,
        so subtracting this prompt's log-probabilities favours tokens that come
        from the source. The sentence is the last built-in one for the direction;
        directions without built-in sentences decode plainly.
        """
        pairs = examples_for(source.code, target.code)
        return self._prompt(model, pairs[-1][0], source, target) if pairs else None

    def _languages(self, text: str, options: TranslateOptions) -> tuple[Language, Language, bool]:
        target = resolve_language(options.target)
        if options.source:
            return resolve_language(options.source), target, False
        return detect_language(text), target, True

    def _pieces(self, model: TaskModel, text: str, source: Language, target: Language) -> list[str]:
        """Line breaks of ``text`` as they are, and the sentences of each line (overlong ones split)."""
        # A piece of b tokens may need 2b + 16 to translate: keep 3b + 16 within the context.
        free = text_budget(model, lambda t: self._prompt(model, t, source, target), reserve=16)
        budget = max(1, min(_PIECE_TOKENS, free // 3))
        pieces: list[str] = []
        for part in re.split(r"(\s*\n\s*)", text):
            if not part.strip():
                pieces.append(part)
                continue
            pieces += [c.text for c in sentence_chunks(part, model.tokenizer.count, budget)]
        return pieces

    def prompts(self, model: TaskModel, text: str, options: TranslateOptions) -> list[Prompt]:
        source, target, _ = self._languages(text, options)
        return [self._prompt(model, p, source, target) for p in self._pieces(model, text, source, target) if p.strip()]

    def run(self, model: TaskModel, texts: list[str], options: TranslateOptions) -> Sequence[BaseModel]:
        started = time.perf_counter()
        num_beams = options.num_beams
        plans = []
        prompts: list[Prompt] = []
        pieces_of: list[tuple[str, Language, Language]] = []  # each prompt's piece and its languages
        for text in texts:
            source, target, detected = self._languages(text, options)
            pieces = [] if same_language(source, target) else self._pieces(model, text, source, target)
            slots = []
            for piece in pieces:
                slots.append(len(prompts) if piece.strip() else piece)
                if piece.strip():
                    prompts.append(self._prompt(model, piece.strip(), source, target))
                    pieces_of.append((piece.strip(), source, target))
            plans.append((text, source, target, detected, slots))
        # The script mask keeps a small model writing the target's script; an engine that cannot
        # constrain (a server) translates unmasked, and the result's wrong_script flag still tells.
        masked = model.supports(Capability.CONSTRAINTS)
        constraints = [script_constraint(model.tokenizer, target.code, model.profile.stop_token_ids) if masked else None
                       for _, _, target, _, slots in plans for slot in slots if not isinstance(slot, str)]
        longest = max((model.tokenizer.count(piece) for piece, _, _ in pieces_of), default=0)
        contrasts = self._contrasts(model, pieces_of) if num_beams == 1 else None
        outputs = self._generate(model, prompts, longest, constraints, num_beams, contrasts)
        copied = self._retry_copies(model, prompts, pieces_of, longest, constraints, num_beams, outputs, contrasts)
        grounded = self._groundings(model, outputs, pieces_of)
        seconds = (time.perf_counter() - started) / len(texts)
        return [self._assemble(model, plan, prompts, outputs, grounded, copied, seconds) for plan in plans]

    def _retry_copies(self, model: TaskModel, prompts: list[Prompt], pieces_of: list[tuple[str, Language, Language]],
                      longest: int, constraints: list[ScriptConstraint | None], num_beams: int,
                      outputs: list[_Output], contrasts: list[Prompt | None] | None) -> set[int]:
        """Generate copied pieces again, penalised for repeating the prompt; the pieces still copied."""
        def copies(i: int) -> bool:
            return looks_copied(outputs[i][0], *pieces_of[i])

        again = [i for i in range(len(prompts)) if copies(i)]
        if not again:
            return set()
        retried = self._generate(model, [prompts[i] for i in again], longest, [constraints[i] for i in again],
                                 num_beams, [contrasts[i] for i in again] if contrasts else None,
                                 repetition_penalty=_RETRY_PENALTY)
        for i, output in zip(again, retried):
            outputs[i] = output  # the retry's own tokens, and confidence
        return {i for i in again if copies(i)}

    def _generate(self, model: TaskModel, prompts: list[Prompt], longest_piece: int,
                  constraints: list[ScriptConstraint | None], num_beams: int, contrasts: list[Prompt | None] | None,
                  repetition_penalty: float = 1.0) -> list[_Output]:
        """``(line, generated ids, their summed log-probability)`` per prompt."""
        if not prompts:
            return []
        room = max(1, model.profile.context_length - max(len(p.ids) for p in prompts + [c for c in contrasts or [] if c]))
        # The 4-gram ban covers the translation only, so names and numbers of the source can be copied
        # (first 25 per direction: en<->fr/de chrF++ 22.11 -> 22.60).
        options = GenerationOptions(max_new_tokens=min(2 * longest_piece + 16, room), no_repeat_ngram_size=4,
                                    no_repeat_ngram_in_prompt=False,
                                    num_beams=num_beams, repetition_penalty=repetition_penalty,
                                    contrast_weight=_CONTRAST_WEIGHT if contrasts and any(contrasts) else 0.0,
                                    stop_token_ids=model.profile.stop_token_ids)
        results = []
        for out in model.generate(prompts, options, constraints if any(constraints) else None, contrasts):
            logprob = sum(out.token_logprobs) if len(out.token_logprobs) == len(out.token_ids) else math.nan
            results.append((answer_line(model.tokenizer.decode(out.token_ids)), tuple(out.token_ids), logprob))
        return results

    def _groundings(self, model: TaskModel, outputs: list[_Output],
                    pieces_of: list[tuple[str, Language, Language]]) -> list[float | None]:
        """Each output's summed ``log p(t | its source) - log p(t | another sentence)``.

        None where there is nothing to score, or the engine cannot score or reports no
        log-probabilities of its own tokens.
        """
        if not model.supports(Capability.SCORE):
            return [None] * len(outputs)
        others: dict[tuple[str, Language, Language], Prompt] = {}
        wanted = [i for i, (_, ids, logprob) in enumerate(outputs) if ids and math.isfinite(logprob)]
        requests = []
        for i in wanted:
            piece, source, target = pieces_of[i]
            key = (other_sentence(source.code, piece), source, target)
            if key not in others:
                others[key] = self._prompt(model, key[0], source, target)
            requests.append(ScoreRequest(prompt=tuple(others[key].ids), continuations=(outputs[i][1],)))
        grounded: list[float | None] = [None] * len(outputs)
        for i, (other,) in zip(wanted, model.score(requests) if requests else []):
            grounded[i] = outputs[i][2] - other
        return grounded

    def _assemble(self, model: TaskModel, plan: tuple[Any, ...], prompts: list[Prompt],
                  outputs: list[_Output], grounded: list[float | None], copied: set[int],
                  seconds: float) -> Translation:
        text, source, target, detected, slots = plan
        if not slots:  # already in the target language
            prov = model.provenance(tokens_in=0, tokens_out=0, seconds=seconds)
            return Translation(text=text, source=source.code, target=target.code, source_detected=detected, provenance=prov)
        parts, tin, tout, n, copy, ratio, scored = [], 0, 0, 0, False, 0.0, 0
        for slot in slots:
            if isinstance(slot, str):
                parts.append(slot)
                continue
            parts.append(outputs[slot][0])
            copy = copy or slot in copied
            tin, tout, n = tin + len(prompts[slot].ids), tout + len(outputs[slot][1]), n + 1
            if (piece_ratio := grounded[slot]) is not None:
                ratio, scored = ratio + piece_ratio, scored + len(outputs[slot][1])
        joined = _join_sentences(parts, target)
        prov = model.provenance(tokens_in=tin, tokens_out=tout, seconds=seconds, chunks=max(1, n))
        confidence = 1 / (1 + math.exp(-ratio / scored)) if scored else None
        script = script_share(joined, target.code)
        wrong_script = script is not None and script < _MIN_SCRIPT_SHARE
        low = confidence is not None and confidence < LOW_CONFIDENCE
        if wrong_script or low or copy:
            why = [w for w, hit in (("not in the target's script", wrong_script),
                                    (f"confidence {confidence or 0:.2f} below {LOW_CONFIDENCE}", low),
                                    ("part of it is the source, untranslated", copy)) if hit]
            warnings.warn(f"translation {source.code}->{target.code} may be unreliable: {'; '.join(why)}",
                          UnreliableTranslationWarning, stacklevel=2)
        return Translation(text=joined, source=source.code, target=target.code, source_detected=detected,
                           copied_source=copy, confidence=confidence, wrong_script=wrong_script,
                           low_confidence=low, provenance=prov)


_UNSPACED_SCRIPTS = {"Hans", "Hant", "Hani", "Jpan"}  # sentences follow each other without a space


def _join_sentences(parts: list[str], target: Language) -> str:
    """The translated sentences of each line joined (with a space where the target script uses one);
    line breaks kept as they were."""
    space = "" if target_script(target.code) in _UNSPACED_SCRIPTS else " "
    out: list[str] = []
    for part in parts:
        if out and out[-1].strip() and part.strip():
            out.append(space)
        out.append(part)
    return "".join(out)
