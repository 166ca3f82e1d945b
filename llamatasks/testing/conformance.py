"""The conformance suite every llamatasks backend runs.

Subclass :class:`BackendConformance` in a test module (its name must start
with ``Test``) and say which backend to test::

    from llamatasks.testing.conformance import BackendConformance

    class TestTorchBackend(BackendConformance):
        backend = "torch"

The engine is loaded from a tiny random-weight checkpoint (the
``tiny_checkpoint`` fixture of :mod:`llamatasks.testing.fixtures`) and checked
against a plain transformers reference of the same checkpoint: full forward
passes with no cache, no batching and no padding. Override the ``model_path``
fixture to load something derived from the checkpoint (an ONNX export), the
``engine`` fixture to build the engine yourself (a server backend), or set
``plugin`` to test a backend plugin that is not installed.

An engine declares what it can do in ``capabilities`` (a set of
``Capability``). The suite sends every request through ``supported``, as the
runtime does, so an engine without ``Capability.CONSTRAINTS`` is checked to
have a constraint refused with ``CapabilityError`` instead of ignored, and one
without a decoding refinement (beams, contrast, n-gram bans) to decode such a
row plainly; the tests of what it declares must pass.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llamatasks.engine.base import (
    REQUIRED,
    Capability,
    Constraint,
    Engine,
    GenerateRequest,
    GenerationOptions,
    GenerationOutput,
    LoadRequest,
    ScoreRequest,
    supported,
)
from llamatasks.engine.prefixes import plan_prefixes
from llamatasks.errors import CapabilityError, InvalidInputError, LlamaTasksError

__all__ = ["AllowOnly", "BackendConformance", "Follow", "TransformersReference", "generate", "supports"]

Allowed = Callable[[Sequence[int]], "Sequence[int] | None"]


class TransformersReference:
    """Log-probabilities and greedy tokens of a checkpoint, computed the plain way.

    Every step runs the whole sequence through ``LlamaForCausalLM`` in float32:
    slow, but independent of the KV caches, batching and padding under test.
    """

    def __init__(self, path: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self._torch = torch
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, use_safetensors=True).eval()
        self.vocab_size: int = int(self.model.config.vocab_size)

    def next_logprobs(self, ids: Sequence[int]) -> Any:
        """Log-probabilities of the token after ``ids`` (a float32 tensor over the vocabulary)."""
        torch = self._torch
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([list(ids)])).logits[0, -1]
        return logits.float().log_softmax(-1)

    def greedy(self, prompt: Sequence[int], max_new_tokens: int, allowed: Allowed | None = None) -> list[int]:
        """Greedy continuation; ``allowed(generated)`` restricts each step as a constraint does."""
        if allowed is None:
            return list(self._greedy(tuple(prompt), max_new_tokens))
        generated: list[int] = []
        for _ in range(max_new_tokens):
            logprobs = self.next_logprobs([*prompt, *generated])
            ids = allowed(generated)
            if ids is not None:
                ids = list(ids)
                generated.append(ids[int(logprobs[ids].argmax())])
            else:
                generated.append(int(logprobs.argmax()))
        return generated

    @lru_cache(maxsize=64)  # noqa: B019 - one reference per test class; the cache dies with it
    def _greedy(self, prompt: tuple[int, ...], max_new_tokens: int) -> tuple[int, ...]:
        generated: list[int] = []
        for _ in range(max_new_tokens):
            generated.append(int(self.next_logprobs([*prompt, *generated]).argmax()))
        return tuple(generated)

    def beam_search(self, prompt: Sequence[int], options: GenerationOptions) -> list[int]:
        """transformers' own beam search (``generate``) with ``options``, cut at the first stop id."""
        from transformers import GenerationConfig

        torch = self._torch
        config = GenerationConfig(
            max_new_tokens=options.max_new_tokens, do_sample=False, num_beams=options.num_beams,
            repetition_penalty=options.repetition_penalty, no_repeat_ngram_size=options.no_repeat_ngram_size,
            length_penalty=1.0, early_stopping=False,
            eos_token_id=list(options.stop_token_ids),  # [], not None: None would fall back to the model's eos
            pad_token_id=1)  # any id: one unpadded row (0 with no eos trips transformers' fill value)
        ids = torch.tensor([list(prompt)])
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
        row = out[0, len(prompt):].tolist()
        stops = set(options.stop_token_ids)
        return next((row[:i] for i, t in enumerate(row) if t in stops), row)

    def logprob(self, prompt: Sequence[int], continuation: Sequence[int]) -> float:
        """Summed log-probability of ``continuation`` after ``prompt``, from one forward pass."""
        torch = self._torch
        ids = [*prompt, *continuation]
        with torch.inference_mode():
            logprobs = self.model(input_ids=torch.tensor([ids])).logits[0].float().log_softmax(-1)
        return sum(float(logprobs[len(prompt) - 1 + j, tok]) for j, tok in enumerate(continuation))


class AllowOnly:
    """A constraint that allows the same tokens at every step."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = list(ids)

    def allowed_tokens(self, generated: Sequence[int]) -> Sequence[int] | None:
        return self.ids


class Follow:
    """A constraint that forces ``tokens``, then ``end`` (a stop token)."""

    def __init__(self, tokens: Sequence[int], end: int) -> None:
        self.tokens, self.end = list(tokens), end

    def allowed_tokens(self, generated: Sequence[int]) -> Sequence[int] | None:
        n = len(generated)
        return [self.tokens[n]] if n < len(self.tokens) else [self.end]


def no_repeat_bans(prompt: Sequence[int], size: int, in_prompt: bool, vocab_size: int) -> Allowed:
    """``allowed(generated)`` for ``no_repeat_ngram_size=size``, as transformers defines the ban."""

    def allowed(generated: Sequence[int]) -> Sequence[int] | None:
        seen = [*(prompt if in_prompt else ()), *generated]
        if len(seen) + 1 < size:
            return None
        tail = seen[len(seen) - size + 1:] if size > 1 else []
        banned = {seen[i + size - 1] for i in range(len(seen) - size + 1) if seen[i:i + size - 1] == tail}
        return [t for t in range(vocab_size) if t not in banned] if banned else None

    return allowed


def supports(engine: Engine, capability: Capability) -> bool:
    """Whether ``engine`` declares ``capability``."""
    return capability in engine.capabilities


def generate(engine: Engine, prompts: Sequence[Sequence[int]], options: GenerationOptions,
             constraints: Sequence[Constraint | None] | None = None,
             contrasts: Sequence[Sequence[int] | None] | None = None) -> list[GenerationOutput]:
    """One batch on ``engine``, through ``supported`` as the runtime sends it."""
    return engine.generate(supported(GenerateRequest.of(prompts, options, constraints, contrasts), engine))


def greedy(max_new_tokens: int, stop: Sequence[int] = ()) -> GenerationOptions:
    return GenerationOptions(max_new_tokens=max_new_tokens, stop_token_ids=tuple(stop))


class BackendConformance:
    """The engine contract (``llamatasks.engine.base``) as tests; subclass it to run them.

    Class attributes to set:
        backend: The registered backend name to load (unless you override ``engine``).
        plugin: A plugin object or module to register (without installing it) before loading.
        kind: Which tiny checkpoint to use (see ``llamatasks.testing.checkpoints.TINY_KINDS``).
        device: Where the engine runs (``"cpu"``, ``"cuda"``, ...); the reference always runs on the CPU.
        dtype: The engine's dtype (``None``: the backend's default for the device; use ``"float32"``
            on a GPU, where the default is half precision and would not match the reference).
        score_atol: Absolute tolerance, in nats, for scores against the reference.
        prefix_atol: The same where prompts share prefixes (1e-4 in float32: running a shared prefix
            once may change only the order of floating-point sums, never what is attended to).
        max_new_tokens: Tokens generated per test.
    """

    backend: ClassVar[str | None] = None
    plugin: ClassVar[object | None] = None
    kind: ClassVar[str] = "chatml"
    device: ClassVar[str] = "cpu"
    dtype: ClassVar[str | None] = None
    score_atol: ClassVar[float] = 1e-3
    prefix_atol: ClassVar[float] = 1e-4
    max_new_tokens: ClassVar[int] = 8

    # -- fixtures a subclass may override -------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def checkpoint(cls, tiny_checkpoint: Callable[[str], Path]) -> Path:
        """The Hugging Face-format checkpoint the reference runs."""
        return tiny_checkpoint(cls.kind)

    @pytest.fixture(scope="class")
    @classmethod
    def model_path(cls, checkpoint: Path) -> Path:
        """What the backend loads: the checkpoint itself, or something made from it."""
        return checkpoint

    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls, model_path: Path) -> Iterator[Engine]:
        """The engine under test, on ``device``."""
        from llamatasks.plugins import default_registry
        from llamatasks.testing.plugins import registry_with

        if cls.backend is None:
            pytest.fail(f"{cls.__name__}: set `backend = \"name\"` or override the `engine` fixture")
        registry = registry_with(cls.plugin) if cls.plugin is not None else default_registry()
        engine = registry.backend(cls.backend).load(LoadRequest(path=model_path, device=cls.device, dtype=cls.dtype))
        yield engine
        engine.close()

    @pytest.fixture(scope="class")
    @classmethod
    def reference(cls, checkpoint: Path) -> TransformersReference:
        """What the engine's answers are compared with."""
        return TransformersReference(checkpoint)

    @pytest.fixture(scope="class")
    @classmethod
    def prompts(cls, reference: TransformersReference) -> list[list[int]]:
        """Three prompts of different lengths (so batches are left-padded), from ordinary token ids."""
        rng = random.Random(1234)
        top = min(reference.vocab_size, 30_000)
        return [[rng.randrange(100, top) for _ in range(n)] for n in (3, 11, 6)]

    # -- generation ---------------------------------------------------------------

    def test_greedy_generation_matches_the_reference(self, engine: Engine, reference: TransformersReference,
                                                     prompts: list[list[int]]) -> None:
        n = self.max_new_tokens
        for prompt in prompts:
            (out,) = generate(engine, [prompt], greedy(n))
            assert out.token_ids == reference.greedy(prompt, n)
            assert out.finish_reason == "length"

    def test_a_left_padded_batch_equals_one_by_one(self, engine: Engine, prompts: list[list[int]]) -> None:
        options = greedy(self.max_new_tokens)
        batched = generate(engine, prompts, options)
        alone = [generate(engine, [p], options)[0] for p in prompts]
        assert [o.token_ids for o in batched] == [o.token_ids for o in alone]
        assert [o.finish_reason for o in batched] == [o.finish_reason for o in alone]

    def test_generation_stops_at_a_stop_token_and_leaves_it_out(
        self, engine: Engine, reference: TransformersReference, prompts: list[list[int]],
    ) -> None:
        n = self.max_new_tokens
        # Stop on a token the first prompt's greedy output reaches after a few new tokens.
        expected = reference.greedy(prompts[0], n)
        cut = next((i for i in range(1, n) if expected[i] not in expected[:i]), None)
        if cut is None:
            pytest.skip(f"the reference repeats one token for this prompt: {expected}")
        stop = expected[cut]
        outputs = generate(engine, prompts, greedy(n, stop=(stop,)))
        for prompt, out in zip(prompts, outputs):  # every row stops on its own, padding never leaks
            full = reference.greedy(prompt, n)
            assert out.token_ids == (full[:full.index(stop)] if stop in full else full)
            assert out.finish_reason == ("stop" if stop in full else "length")
        assert outputs[0].token_ids == expected[:cut] and outputs[0].finish_reason == "stop"

    def test_an_empty_stop_set_runs_to_max_new_tokens(self, engine: Engine, prompts: list[list[int]]) -> None:
        n = 2 * self.max_new_tokens
        for out in generate(engine, prompts, greedy(n, stop=())):
            assert len(out.token_ids) == n and out.finish_reason == "length"

    def test_seeded_sampling_is_reproducible(self, engine: Engine, prompts: list[list[int]]) -> None:
        options = GenerationOptions(max_new_tokens=self.max_new_tokens, temperature=1.0, seed=7)
        first = generate(engine, prompts, options)
        second = generate(engine, prompts, options)
        assert [o.token_ids for o in first] == [o.token_ids for o in second]
        assert all(len(o.token_ids) == self.max_new_tokens for o in first)

    # -- scoring ------------------------------------------------------------------

    def test_single_token_scores_match_the_reference(self, engine: Engine, reference: TransformersReference,
                                                     prompts: list[list[int]]) -> None:
        if not supports(engine, Capability.SCORE):
            pytest.skip("this engine does not declare Capability.SCORE")
        continuations = ((500,), (1_000,), (reference.greedy(prompts[0], 1)[0],))
        requests = [ScoreRequest(prompt=tuple(p), continuations=continuations) for p in prompts]
        scores = engine.score(requests)
        for prompt, row in zip(prompts, scores):
            assert row == pytest.approx([reference.logprob(prompt, c) for c in continuations], abs=self.score_atol)

    def test_multi_token_scores_match_the_reference(self, engine: Engine, reference: TransformersReference,
                                                    prompts: list[list[int]]) -> None:
        if not supports(engine, Capability.SCORE):
            pytest.skip("this engine does not declare Capability.SCORE")
        # Mixed lengths, shared prefixes and a repeated token: what label verbalizers look like.
        continuations = ((700,), (700, 701), (702, 703, 704, 705), (700, 700, 700))
        requests = [ScoreRequest(prompt=tuple(p), continuations=continuations) for p in prompts]
        scores = engine.score(requests)
        assert [len(row) for row in scores] == [len(continuations)] * len(prompts)
        for prompt, row in zip(prompts, scores):
            assert row == pytest.approx([reference.logprob(prompt, c) for c in continuations], abs=self.score_atol)

    @pytest.fixture(scope="class")
    @classmethod
    def shared_prompts(cls, reference: TransformersReference, prompts: list[list[int]]) -> list[list[int]]:
        """The prompts behind one 12-token head (a system turn), plus one much longer: both sharing paths."""
        rng = random.Random(99)
        top = min(reference.vocab_size, 30_000)
        head = [rng.randrange(100, top) for _ in range(12)]
        return [head + p for p in prompts] + [head + [rng.randrange(100, top) for _ in range(30)]]

    def test_a_shared_prefix_scores_as_unshared(self, engine: Engine, reference: TransformersReference,
                                                shared_prompts: list[list[int]]) -> None:
        if not supports(engine, Capability.SCORE):
            pytest.skip("this engine does not declare Capability.SCORE")
        # Backends may run a prefix every prompt shares once (engine.prefixes.plan_prefixes); nothing may change.
        continuations = ((500,), (reference.greedy(shared_prompts[0], 1)[0],), (700, 701, 702))
        for rows in (shared_prompts, shared_prompts[:3]):  # lengths far apart, then close together
            requests = [ScoreRequest(prompt=tuple(p), continuations=continuations) for p in rows]
            for prompt, row in zip(rows, engine.score(requests)):
                want = [reference.logprob(prompt, c) for c in continuations]
                assert row == pytest.approx(want, abs=self.prefix_atol)

    def test_a_shared_prefix_generates_as_unshared(self, engine: Engine, reference: TransformersReference,
                                                   shared_prompts: list[list[int]]) -> None:
        n = self.max_new_tokens
        for rows in (shared_prompts, shared_prompts[:3]):
            outputs = generate(engine, rows, greedy(n))
            assert [o.token_ids for o in outputs] == [reference.greedy(p, n) for p in rows]
        if supports(engine, Capability.BEAMS):  # beams reorder the rows of a cache built on a shared prefix
            beams = greedy(n).model_copy(update={"num_beams": 2})
            outputs = generate(engine, shared_prompts[:3], beams)
            assert [o.token_ids for o in outputs] == [reference.beam_search(p, beams) for p in shared_prompts[:3]]

    @pytest.fixture(scope="class")
    @classmethod
    def grouped_prompts(cls, reference: TransformersReference, prompts: list[list[int]]) -> list[list[int]]:
        """Two groups of three prompts, each group sharing a 24-token part after a common head, and one
        prompt of its own: a sentence's NER mentions after a shared question, a prompt's continuations."""
        rng = random.Random(98)
        top = min(reference.vocab_size, 30_000)

        def ids(n: int) -> list[int]:
            return [rng.randrange(100, top) for _ in range(n)]

        head, first, second = ids(12), ids(24), ids(24)
        rows = [head + part + ids(k) for part in (first, second) for k in (3, 5, 9)] + [head + ids(6)]
        rng.shuffle(rows)  # the groups need not arrive together
        passes = plan_prefixes(rows).passes
        assert len(passes) == 3, "the fixture must take the deepest plan: the head, the groups' parts, the rests"
        return rows

    def test_grouped_prefixes_score_and_generate_as_unshared(self, engine: Engine, reference: TransformersReference,
                                                             grouped_prompts: list[list[int]]) -> None:
        # Backends may run the shared head and each group's part once (engine.prefixes.plan_prefixes);
        # nothing may change.
        if supports(engine, Capability.SCORE):
            continuations = ((500,), (700, 701, 702), (703, 704))
            requests = [ScoreRequest(prompt=tuple(p), continuations=continuations) for p in grouped_prompts]
            for prompt, row in zip(grouped_prompts, engine.score(requests)):
                assert row == pytest.approx([reference.logprob(prompt, c) for c in continuations],
                                            abs=self.prefix_atol)
        n = self.max_new_tokens
        outputs = generate(engine, grouped_prompts, greedy(n))
        assert [o.token_ids for o in outputs] == [reference.greedy(p, n) for p in grouped_prompts]

    def test_no_repeat_ngrams_count_the_prompt_or_not(self, engine: Engine, reference: TransformersReference,
                                                      prompts: list[list[int]]) -> None:
        if not supports(engine, Capability.NO_REPEAT_NGRAM):
            pytest.skip("this engine does not declare Capability.NO_REPEAT_NGRAM")
        n = self.max_new_tokens
        # Each prompt ends with its own greedy continuation, so the reference would say it again.
        echoes = [[*p, *reference.greedy(p, n)] for p in prompts]
        found: dict[tuple[int, bool], list[list[int]]] = {}
        for size in (1, 2):
            for in_prompt in (True, False):
                options = greedy(n).model_copy(update={"no_repeat_ngram_size": size,
                                                       "no_repeat_ngram_in_prompt": in_prompt})
                outputs = [out.token_ids for out in generate(engine, echoes, options)]
                for prompt, out in zip(echoes, outputs):
                    banned = no_repeat_bans(prompt, size, in_prompt, reference.vocab_size)
                    assert out == reference.greedy(prompt, n, allowed=banned)
                    assert not any(out[i:i + size] == out[j:j + size]
                                   for i in range(len(out) - size + 1) for j in range(i))
                found[size, in_prompt] = outputs
        assert any(found[size, True] != found[size, False] for size in (1, 2)), \
            "the prompts do not tell the two settings apart: this test would not see the flag ignored"

    def test_beam_search_matches_transformers(self, engine: Engine, reference: TransformersReference,
                                              prompts: list[list[int]]) -> None:
        if not supports(engine, Capability.BEAMS):
            pytest.skip("this engine does not declare Capability.BEAMS")
        n = self.max_new_tokens
        options = greedy(n).model_copy(update={"num_beams": 3, "repetition_penalty": 1.2, "no_repeat_ngram_size": 2})
        outputs = generate(engine, prompts, options)
        assert [o.token_ids for o in outputs] == [reference.beam_search(p, options) for p in prompts]
        # A stop token the beams reach: finished hypotheses compete with running ones.
        stopping = options.model_copy(update={"stop_token_ids": (outputs[1].token_ids[n // 2],)})
        stopped = generate(engine, prompts, stopping)
        assert [o.token_ids for o in stopped] == [reference.beam_search(p, stopping) for p in prompts]
        assert [o.token_ids for o in stopped] == [generate(engine, [p], stopping)[0].token_ids for p in prompts]

    # -- constraints ----------------------------------------------------------------

    def test_constraints_are_honoured(self, engine: Engine, reference: TransformersReference,
                                      prompts: list[list[int]]) -> None:
        n = self.max_new_tokens
        if not supports(engine, Capability.CONSTRAINTS):
            with pytest.raises(CapabilityError):
                generate(engine, prompts[:1], greedy(n), [AllowOnly([500, 600])])
            return
        allowed = [500, 600, 700, 800, 900]
        outputs = generate(engine, prompts, greedy(n), [AllowOnly(allowed), None, AllowOnly(allowed)])
        for i in (0, 2):
            assert outputs[i].token_ids == reference.greedy(prompts[i], n, allowed=lambda g: allowed)
        assert outputs[1].token_ids == reference.greedy(prompts[1], n)  # an unconstrained row in the same batch

    def test_a_constraint_can_force_a_sequence_and_its_end(self, engine: Engine, prompts: list[list[int]]) -> None:
        if not supports(engine, Capability.CONSTRAINTS):
            pytest.skip("this engine does not declare Capability.CONSTRAINTS")
        forced, end = [321, 654, 987], 2
        (out,) = generate(engine, prompts[:1], greedy(self.max_new_tokens, stop=(end,)), [Follow(forced, end)])
        assert out.token_ids == forced and out.finish_reason == "stop"

    # -- bad input ------------------------------------------------------------------

    def test_contrastive_decoding_matches_the_reference(self, engine: Engine, reference: TransformersReference,
                                                        prompts: list[list[int]]) -> None:
        if not supports(engine, Capability.CONTRAST):
            pytest.skip("this engine does not declare Capability.CONTRAST")
        n, weight = self.max_new_tokens, 0.5
        contrasts = [prompts[2], None, prompts[0][:2]]  # the middle row decodes plainly in the same batch
        options = greedy(n).model_copy(update={"contrast_weight": weight})
        outputs = generate(engine, prompts, options, contrasts=contrasts)
        changed = [out.token_ids != reference.greedy(p, n) for p, c, out in zip(prompts, contrasts, outputs) if c]
        assert any(changed), "the contrast changed no row: this test would not see it ignored"
        for prompt, contrast, out in zip(prompts, contrasts, outputs):
            if contrast is None:
                assert out.token_ids == reference.greedy(prompt, n)
                continue
            expected: list[int] = []
            for _ in range(n):
                mixed = ((1 + weight) * reference.next_logprobs([*prompt, *expected])
                         - weight * reference.next_logprobs([*contrast, *expected]))
                expected.append(int(mixed.argmax()))
            assert out.token_ids == expected
        alone = [generate(engine, [p], options, contrasts=[c])[0] for p, c in zip(prompts, contrasts)]
        assert [o.token_ids for o in alone] == [o.token_ids for o in outputs]

    def test_empty_prompts_are_invalid_input(self, engine: Engine) -> None:
        with pytest.raises(InvalidInputError):
            generate(engine, [], greedy(2))
        with pytest.raises(InvalidInputError):
            generate(engine, [[5, 6], []], greedy(2))

    # -- capabilities -----------------------------------------------------------------

    def test_capabilities_are_a_declared_set(self, engine: Engine) -> None:
        assert isinstance(engine.capabilities, frozenset)
        assert all(isinstance(c, Capability) for c in engine.capabilities)
        for capability in REQUIRED - engine.capabilities:
            assert capability in engine.capability_hints, f"say why {capability.value} is missing and what to use"

    def test_scoring_without_the_capability_is_refused(self, engine: Engine) -> None:
        if supports(engine, Capability.SCORE):
            pytest.skip("this engine scores")
        from llamatasks.engine.base import require

        with pytest.raises(CapabilityError):
            require(engine, Capability.SCORE)

    @pytest.mark.parametrize("refinement", [Capability.BEAMS, Capability.CONTRAST, Capability.NO_REPEAT_NGRAM])
    def test_an_undeclared_refinement_decodes_plainly(self, engine: Engine, prompts: list[list[int]],
                                                      refinement: Capability) -> None:
        if supports(engine, refinement):
            pytest.skip(f"this engine declares {refinement.value}")
        n = self.max_new_tokens
        update = {Capability.BEAMS: {"num_beams": 2}, Capability.CONTRAST: {"contrast_weight": 0.5},
                  Capability.NO_REPEAT_NGRAM: {"no_repeat_ngram_size": 1}}[refinement]
        contrasts = [prompts[2], None, prompts[0][:2]] if refinement is Capability.CONTRAST else None
        refined = generate(engine, prompts, greedy(n).model_copy(update=update), contrasts=contrasts)
        assert [o.token_ids for o in refined] == [o.token_ids for o in generate(engine, prompts, greedy(n))]

    @pytest.mark.parametrize("bad", [-1, 10**9])
    def test_token_ids_outside_the_vocabulary_raise_a_typed_error(self, engine: Engine, bad: int) -> None:
        with pytest.raises(LlamaTasksError):
            generate(engine, [[5, bad]], greedy(2))
        with pytest.raises(LlamaTasksError):
            engine.score([ScoreRequest(prompt=(5, 6), continuations=((bad,),))])
