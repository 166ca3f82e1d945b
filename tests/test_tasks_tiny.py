"""Engine and task behaviour on tiny random-weight models of each generation.

The models are random, so answers are meaningless; what is tested is what a
user relies on whatever the model: batching changes nothing, probabilities sum
to 1, entities are real spans, long inputs are chunked rather than truncated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import llamatasks
from llamatasks.engine.base import GenerateRequest, GenerationOptions, ScoreRequest
from llamatasks.errors import InvalidInputError, UnknownTaskError
from llamatasks.results import Entities, Sentiment
from llamatasks.testing.conformance import generate

KINDS = ["llama1", "llama2-chat", "llama3-instruct", "llama3.1-instruct", "llama3.2-instruct", "chatml", "zephyr"]


@pytest.fixture(scope="module")
def models(tiny_checkpoint: Callable[[str], Path]) -> dict[str, llamatasks.Model]:
    import torch

    torch.set_num_threads(1)  # tiny models: threads only add contention on small CI machines
    return {kind: llamatasks.load(tiny_checkpoint(kind), batch_size=4) for kind in KINDS}


PROMPTS = ["Hello there", "A much longer prompt that needs left padding in the batch", "Short"]


@pytest.mark.parametrize("kind", KINDS)
def test_batched_generation_equals_one_by_one(kind: str, models: dict[str, llamatasks.Model]) -> None:
    m = models[kind]
    ids = [m.tokenizer.encode(p) for p in PROMPTS]
    options = GenerationOptions(max_new_tokens=10, stop_token_ids=m.profile.stop_token_ids)
    batched = generate(m.engine, ids, options)
    single = [generate(m.engine, [p], options)[0] for p in ids]
    assert [b.token_ids for b in batched] == [s.token_ids for s in single]


@pytest.mark.parametrize("kind", ["llama2-chat", "llama3.1-instruct"])
def test_batched_scoring_equals_one_by_one(kind: str, models: dict[str, llamatasks.Model]) -> None:
    m = models[kind]
    requests = [ScoreRequest(prompt=tuple(m.tokenizer.encode(p)), continuations=((5,), (7,))) for p in PROMPTS]
    batched = m.engine.score(requests)
    single = [m.engine.score([r])[0] for r in requests]
    for b, o in zip(batched, single):
        assert b == pytest.approx(o, abs=1e-4)


def test_multi_token_scoring_matches_full_forward(models: dict[str, llamatasks.Model]) -> None:
    import torch

    m = models["llama3-instruct"]
    prompt = m.tokenizer.encode("The capital of France is")
    conts = (tuple(m.tokenizer.encode(" Paris, of course")), tuple(m.tokenizer.encode(" Lyon")))
    (scores,) = m.engine.score([ScoreRequest(prompt=tuple(prompt), continuations=conts)])
    for cont, score in zip(conts, scores):
        ids = torch.tensor([prompt + list(cont)])
        with torch.inference_mode():
            logprobs = m.engine.model(input_ids=ids).logits.log_softmax(-1)[0]
        expected = sum(float(logprobs[len(prompt) + j - 1, tok]) for j, tok in enumerate(cont))
        assert score == pytest.approx(expected, abs=1e-3)


def test_sampling_is_seeded(models: dict[str, llamatasks.Model]) -> None:
    m = models["chatml"]
    ids = [m.tokenizer.encode("Once upon a time")]
    options = GenerationOptions(max_new_tokens=12, temperature=1.5, seed=7)
    assert generate(m.engine, ids, options) == generate(m.engine, ids, options)


@pytest.mark.parametrize("kind", KINDS)
def test_every_task_runs_on_every_generation(kind: str, models: dict[str, llamatasks.Model]) -> None:
    m = models[kind]
    s = m.sentiment("The battery died after a day.")
    assert isinstance(s, Sentiment) and sum(s.scores.values()) == pytest.approx(1.0)
    assert s.label == max(s.scores, key=s.scores.__getitem__) and s.provenance.prompt_format == m.profile.prompt_format
    c = m.classify("The striker scored twice.", labels=["sports", "politics", "science fiction"])
    assert set(c.scores) == {"sports", "politics", "science fiction"} and sum(c.scores.values()) == pytest.approx(1.0)
    text = "Tim Cook visited Paris. Later Tim Cook met Angela Merkel in Berlin."
    for e in m.ner(text).entities:
        assert text[e.start:e.end] == e.text
    summary = m.summarize("The council approved the budget. It adds bike lanes and buses.", max_words=12)
    assert summary.words <= 12
    translation = m.translate("Bonjour tout le monde.", target="en")
    assert translation.source == "fr" and translation.source_detected and translation.target == "en"


def test_summaries_are_cut_at_a_sentence_then_a_clause_then_a_word() -> None:
    from llamatasks.tasks.summarize import fit_words

    assert fit_words("One two three four. Five six seven eight", 6) == "One two three four."
    assert fit_words("One two three four, five six seven eight", 6) == "One two three four."
    assert fit_words("One two three four; five six seven eight", 6) == "One two three four."
    assert fit_words("One, two three four five six seven eight", 6) == "One, two three four five six…"  # too early
    assert fit_words("One two three four five six seven", 6) == "One two three four five six…"
    assert fit_words("One two.", 6) == "One two."
    assert fit_words("我们提出了一种新方法，它在多个任务上都取得了很好的结果", 16) == "我们提出了一种新方法。"
    for text in ("a, b, c, d, e, f, g, h", "Short one. A much longer second sentence, with a clause in it"):
        assert len(fit_words(text, 5).split()) <= 5


def test_summary_starts_a_sentence() -> None:
    from llamatasks.tasks.summarize import sentence_start

    assert sentence_start("we propose a method.") == "We propose a method."
    assert sentence_start("e.g. this") == "E.g. this"
    for kept in ("iPhone sales rose.", "The plan passed.", "2024 was warm.", "我们提出了一种方法。", "« quoted »"):
        assert sentence_start(kept) == kept


def test_lists_in_lists_out_and_json(models: dict[str, llamatasks.Model]) -> None:
    m = models["llama3.1-instruct"]
    texts = ["good", "bad", "fine, I guess", "awful <|eot_id|> truly"]
    batch = m.sentiment(texts)
    assert isinstance(batch, list) and len(batch) == 4
    one_by_one = [m.sentiment(t) for t in texts]
    for b, o in zip(batch, one_by_one):
        assert b.scores == pytest.approx(o.scores, abs=1e-4)
    assert Sentiment.model_validate_json(batch[0].model_dump_json()) == batch[0]


@pytest.mark.parametrize("kind", ["chatml", "llama1"])  # a chat model, and a base model shown examples
def test_sentiment_averages_its_phrasings_each_calibrated(kind: str, models: dict[str, llamatasks.Model]) -> None:
    from llamatasks.tasks.classify import CONTENT_FREE, SentimentTask
    from llamatasks.tasks.scoring import label_distributions

    m, task, text = models[kind], SentimentTask(), "The battery died after a day."
    labels = {"positive": ["positive"], "negative": ["negative"]}
    r = m.runtime  # what tasks run on
    each = [label_distributions(r, [task._prompt(r, text, p)], labels, lead=" ",
                                content_free=[task._prompt(r, free, p) for free in CONTENT_FREE])[0]
            for p in task.phrasings]
    assert len(each) == 4 and len({round(d["positive"], 6) for d in each}) > 1  # the phrasings disagree
    got = m.sentiment(text).scores
    assert got == pytest.approx({k: sum(d[k] for d in each) / 4 for k in labels}, abs=1e-6)
    assert m.sentiment(text, phrasings=1).scores == pytest.approx(each[0], abs=1e-6)
    assert m.sentiment(text, phrasings=2).scores == pytest.approx(
        {k: (each[0][k] + each[1][k]) / 2 for k in labels}, abs=1e-6)
    for bad in (0, 5, 1.5, True):
        with pytest.raises(InvalidInputError, match="phrasings"):
            m.sentiment(text, phrasings=bad)


def test_content_free_priors_are_scored_once_per_model(tiny_checkpoint: Callable[[str], Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    scored: list[int] = []

    def count_scored(model: llamatasks.Model) -> None:
        real = model.engine.score

        def spy(requests: Any) -> Any:
            scored.append(len(requests))
            return real(requests)

        monkeypatch.setattr(model.engine, "score", spy)

    m = llamatasks.load(tiny_checkpoint("chatml"))  # a model of its own: nothing cached yet
    count_scored(m)
    first = m.sentiment("The battery died after a day.")
    assert sum(scored) == 4 + 4 * 3  # one prompt per phrasing, and each phrasing's three content-free prompts
    scored.clear()
    again = m.sentiment("The battery died after a day.")
    assert sum(scored) == 4 and again.scores == first.scores
    other = llamatasks.load(tiny_checkpoint("llama3-instruct"))  # another model scores its own priors
    count_scored(other)
    scored.clear()
    other.sentiment("The battery died after a day.")
    assert sum(scored) == 16


def test_ner_grounding_on_tricky_text(models: dict[str, llamatasks.Model]) -> None:
    text = "Zoë Saldaña met Zoë Saldaña's agent in São Paulo. 昨天Tim Cook在東京见了Sony的人。 Apple and Apple."
    result = models["llama3-instruct"].ner(text)
    assert isinstance(result, Entities)
    for e in result.entities:
        assert text[e.start:e.end] == e.text
    starts = [e.start for e in result.entities]
    assert len(starts) == len(set(starts)) and starts == sorted(starts)
    mentions = [e.text for e in result.entities] + [""]
    assert mentions.count("Apple") in (0, 2)  # each repeated mention at its own offset, or none


def test_ner_label_subsets_and_custom_labels(models: dict[str, llamatasks.Model]) -> None:
    m = models["chatml"]
    text = "Tim Cook visited Paris and bought Aspirin from Bayer."
    assert all(e.label == "PER" for e in m.ner(text, labels=["PER"]).entities)
    custom = m.ner(text, labels={"DRUG": "medicine", "PER": "person"})
    assert {e.label for e in custom.entities} <= {"DRUG", "PER"}
    with pytest.raises(InvalidInputError):
        m.ner(text, labels="PER")


LONG = " ".join(f"Paragraph {i}: the Danube flows past Vienna and the weather in Austria was mild." for i in range(40))


@pytest.mark.parametrize("kind", ["llama2-chat", "llama3.1-instruct"])
def test_long_inputs_are_chunked_not_truncated(kind: str, tiny_checkpoint: Callable[[str], Path]) -> None:
    m = llamatasks.load(tiny_checkpoint(kind), max_context=160)
    assert m.tokenizer.count(LONG) > 160
    s = m.sentiment(LONG)
    assert s.provenance.chunks > 1 and sum(s.scores.values()) == pytest.approx(1.0)
    for prompt in m.prompt_for("sentiment", LONG):
        assert len(prompt.ids) <= 160
    entities = m.ner(LONG).entities
    assert any(e.start > len(LONG) // 2 for e in entities)  # the end of the text was read too
    assert all(LONG[e.start:e.end] == e.text for e in entities)
    summary = m.summarize(LONG, max_words=15)
    assert summary.provenance.chunks > 1 and summary.words <= 15
    t = m.translate(LONG + "\n\n" + LONG[:200], target="fr", source="en")
    assert t.provenance.chunks > 1 and t.text.count("\n\n") == 1


def test_translation_goes_sentence_by_sentence(models: dict[str, llamatasks.Model]) -> None:
    m = models["chatml"]
    text = "Dr. Smith arrived on Monday. She left on Friday!\n\nIs it raining?"
    prompts = m.prompt_for("translate", text, target="fr", source="en")
    assert len(prompts) == 3  # "Dr." ends no sentence; the line break separates the third
    assert "Dr. Smith arrived on Monday." in prompts[0].text and "She left" not in prompts[0].text
    t = m.translate(text, target="fr", source="en")
    assert t.provenance.chunks == 3 and t.text.count("\n\n") == 1


def test_translated_sentences_are_joined_as_the_target_writes_them() -> None:
    from llamatasks.tasks.languages import resolve_language
    from llamatasks.tasks.translate import _join_sentences

    parts = ["Il pleut.", "Il fait froid.", "\n\n", "Oui."]
    assert _join_sentences(parts, resolve_language("fr")) == "Il pleut. Il fait froid.\n\nOui."
    assert _join_sentences(["下雨了。", "很冷。", "\n", "是的。"], resolve_language("zh")) == "下雨了。很冷。\n是的。"
    assert _join_sentences(["雨です。", "寒いです。"], resolve_language("ja")) == "雨です。寒いです。"


def test_beam_width_reaches_the_engine(models: dict[str, llamatasks.Model], monkeypatch: pytest.MonkeyPatch) -> None:
    m = models["chatml"]
    widths: list[int] = []
    contrasted: list[bool] = []
    prompt_ngrams: list[bool] = []
    real = m.engine.generate

    def spy(request: GenerateRequest) -> Any:
        widths.append(request.options.num_beams)
        contrasted.append(request.contrastive)
        prompt_ngrams.append(request.options.no_repeat_ngram_in_prompt)
        return real(request)

    monkeypatch.setattr(m.engine, "generate", spy)
    m.summarize("The council met on Tuesday to vote on the budget.", max_words=10)
    assert widths == [1]  # the default: greedy
    m.summarize("The council met on Tuesday to vote on the budget.", max_words=10, num_beams=4)
    assert widths == [1, 4]
    m.translate("The council met on Tuesday.", target="fr", source="en", num_beams=3)
    assert widths[2:] and set(widths[2:]) == {3} and not any(contrasted)
    del widths[:], contrasted[:]
    m.translate("The council met on Tuesday.", target="fr", source="en")  # default: greedy, source-contrastive
    assert widths and set(widths) == {1} and all(contrasted)
    # Summaries and translations may quote their text: only the output's own n-grams are banned.
    assert prompt_ngrams and not any(prompt_ngrams)


def test_bad_options(models: dict[str, llamatasks.Model]) -> None:
    m = models["chatml"]
    with pytest.raises(UnknownTaskError):
        m.run("poetry", "text")
    with pytest.raises(InvalidInputError):
        m.classify("text", labels=["only-one"])
    with pytest.raises(InvalidInputError):
        m.sentiment("text", labels=["happy", "sad"])
    with pytest.raises(InvalidInputError):
        m.summarize("text", max_words=0)
    for beams in (0, 17, "4"):
        with pytest.raises(InvalidInputError, match="num_beams"):
            m.summarize("text", num_beams=beams)
    with pytest.raises(InvalidInputError):
        m.translate("text", target="")
    with pytest.raises(llamatasks.errors.UnknownLanguageError):
        m.translate("text", target="xx")
    # An unpaired surrogate anywhere the user's text reaches the tokenizer is a typed error.
    for call in (lambda: m.sentiment("good \ud800"), lambda: m.classify("text", labels=["a\udc80", "b"]),
                 lambda: m.answer("who\ud800?", "Ann went home."), lambda: m.chat("hi", system="be \ud800 brief")):
        with pytest.raises(InvalidInputError, match="unpaired surrogate"):
            call()


def test_prompt_for_shows_the_exact_prompt(models: dict[str, llamatasks.Model]) -> None:
    m = models["llama3-instruct"]
    prompts = m.prompt_for("sentiment", "great phone")  # one per phrasing the sentiment task averages
    assert len(prompts) == 4 and len({p.text for p in prompts}) == 4
    for prompt in prompts:
        assert prompt.ids[0] == 128000 and "great phone" in prompt.text and len(prompt.tokens) == len(prompt.ids)


def test_top_level_functions_accept_a_model(models: dict[str, llamatasks.Model]) -> None:
    m = models["chatml"]
    assert isinstance(llamatasks.sentiment("nice", model=m), Sentiment)
    assert isinstance(llamatasks.run("ner", ["Tim Cook"], model=m), list)


def test_pickle_weights_are_refused(tiny_checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    import shutil

    src = tiny_checkpoint("chatml")
    for f in src.iterdir():
        if f.suffix != ".safetensors":
            shutil.copy(f, tmp_path / f.name)
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(llamatasks.errors.ModelLoadError, match="pickle"):
        llamatasks.load(tmp_path)


def test_truncated_safetensors(tiny_checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    import shutil

    shutil.copytree(tiny_checkpoint("chatml"), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(llamatasks.errors.ModelLoadError, match="could not load the weights"):
        llamatasks.load(tmp_path / "m")


def test_cuda_asked_without_gpu(tiny_checkpoint: Callable[[str], Path]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(llamatasks.errors.BackendUnavailableError, match="CUDA"):
        llamatasks.load(tiny_checkpoint("chatml"), device="cuda")


def test_no_stop_tokens_means_no_stopping(models: dict[str, llamatasks.Model]) -> None:
    m = models["chatml"]
    ids = [m.tokenizer.encode("Once upon a time")]
    eos = m.profile.stop_token_ids[0]
    forced = generate(m.engine, ids, GenerationOptions(max_new_tokens=1, stop_token_ids=()))
    assert len(forced[0].token_ids) == 1 and forced[0].finish_reason == "length"
    # A row whose first token is a stop token ends there when asked to, and runs on when not.
    prompt = ids[0] + forced[0].token_ids
    stopping = generate(m.engine, [prompt], GenerationOptions(max_new_tokens=8, stop_token_ids=(eos,)))
    running = generate(m.engine, [prompt], GenerationOptions(max_new_tokens=8, stop_token_ids=()))
    assert len(running[0].token_ids) == 8 and running[0].finish_reason == "length"
    if eos in running[0].token_ids:
        assert stopping[0].finish_reason == "stop" and eos not in stopping[0].token_ids


def test_answer_is_a_span_of_the_context(models: dict[str, llamatasks.Model]) -> None:
    context = "Apple was founded by Steve Jobs in 1976. The company is based in Cupertino."
    for kind in ("llama3-instruct", "llama2-chat", "chatml"):
        a = models[kind].answer("Who founded Apple?", context)
        assert not a.found or context[a.start:a.end] == a.text
    with pytest.raises(InvalidInputError):
        models["chatml"].answer("", context)


def test_answer_comes_from_the_chunk_the_model_is_surest_of(tiny_checkpoint: Callable[[str], Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    m = llamatasks.load(tiny_checkpoint("chatml"), max_context=160)
    plain = m.answer("Who was there?", LONG)
    assert plain.found and plain.provenance.chunks > 1 and 0.0 < plain.score <= 1.0
    assert LONG[plain.start:plain.end] == plain.text
    scored: list[ScoreRequest] = []
    real = m.runtime.score

    def last_chunk_surest(requests: list[ScoreRequest]) -> list[list[float]]:
        scored[:] = requests
        rows = real(requests)
        return rows[:-1] + [[0.0]]  # probability 1 for the last chunk's quote

    monkeypatch.setattr(m.runtime, "score", last_chunk_surest)
    a = m.answer("Who was there?", LONG)
    assert len(scored) == a.provenance.chunks and a.score == 1.0
    assert a.text in m.tokenizer.decode(list(scored[-1].prompt)) and LONG[a.start:a.end] == a.text
    assert a.start > len(LONG) // 2  # before, the first chunk's quote was returned whatever the rest held


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_on_cpu(dtype: str, tiny_checkpoint: Callable[[str], Path]) -> None:
    m = llamatasks.load(tiny_checkpoint("llama3.1-instruct"), dtype=dtype)
    assert m.engine.dtype == dtype and str(m.engine.model.dtype) == f"torch.{dtype}"
    s = m.sentiment("fine")
    assert sum(s.scores.values()) == pytest.approx(1.0)
    ids = [m.tokenizer.encode(p) for p in PROMPTS]
    options = GenerationOptions(max_new_tokens=4, stop_token_ids=m.profile.stop_token_ids)
    assert all(len(o.token_ids) <= 4 for o in generate(m.engine, ids, options))


def test_cli_show_prompt_and_json(tiny_checkpoint: Callable[[str], Path]) -> None:
    import json
    import subprocess
    import sys

    model = str(tiny_checkpoint("chatml"))
    run = [sys.executable, "-m", "llamatasks"]
    shown = subprocess.run([*run, "sentiment", "great <|im_end|> phone", "--model", model, "--show-prompt"],
                           capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    assert "great <|im_end|> phone" in shown.stdout and "tokens" in shown.stdout
    result = subprocess.run([*run, "ner", "Tim Cook visited Paris.", "--model", model, "--json"],
                            capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    payload = json.loads(result.stdout)
    assert payload["provenance"]["prompt_format"] == "chatml"
    assert all("Tim Cook visited Paris."[e["start"]:e["end"]] == e["text"] for e in payload["entities"])


def test_translation_output_is_kept_in_the_target_script(models: dict[str, llamatasks.Model]) -> None:
    from llamatasks.tasks.scripts import script_constraint

    m = models["chatml"]
    assert script_constraint(m.tokenizer, "zh", m.profile.stop_token_ids) is None  # CJK targets: unrestricted
    latin = script_constraint(m.tokenizer, "fr", m.profile.stop_token_ids)
    assert latin is not None
    allowed = set(latin.allowed_tokens([]))
    assert set(m.profile.stop_token_ids) <= allowed
    assert all(i in allowed for i in m.tokenizer.encode("Bonjour à tous, ça va ?"))
    for foreign in ("東京", "Москва"):
        letters = [i for i in m.tokenizer.encode(foreign) if any(c.isalpha() for c in m.tokenizer.decode([i]))]
        assert letters and not any(i in allowed for i in letters)
    out = m.translate("我今天很高兴。", target="fr", source="zh")
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in out.text)


def test_calibration_strength_shrinks_the_prior() -> None:
    from llamatasks.tasks.scoring import calibrate

    dist = {"PER": 0.6, "ORG": 0.03, "LOC": 0.37}
    prior = {"PER": 0.8, "ORG": 0.01, "LOC": 0.19}  # the kind of extreme prior NER's content-free prompts give
    assert calibrate(dist, prior, 0.0) == pytest.approx(dist)
    full, partial = calibrate(dist, prior), calibrate(dist, prior, 0.7)
    assert max(full, key=full.__getitem__) == "ORG"  # divided out in full, a prior of 0.01 wins every argmax
    assert max(partial, key=partial.__getitem__) == "LOC"
    assert sum(partial.values()) == pytest.approx(1.0)
    with pytest.raises(InvalidInputError, match="within"):
        calibrate(dist, prior, 1.5)


def test_copy_detection() -> None:
    from llamatasks.tasks.languages import resolve_language
    from llamatasks.tasks.translate import looks_copied

    en, fr = resolve_language("en"), resolve_language("fr")
    source = "The weather was cold, so the match was moved to Sunday afternoon."
    assert looks_copied(source, source, en, fr)
    assert looks_copied("  the weather was cold, so the match was moved to sunday afternoon ", source, en, fr)
    assert looks_copied("The weather was cold, so the game was moved to Sunday.", source, en, fr)
    assert not looks_copied("Il faisait froid, alors le match a été déplacé au dimanche après-midi.", source, en, fr)
    assert not looks_copied("", source, en, fr)
    assert not looks_copied(source, source, en, resolve_language("en-GB"))  # nothing to translate
    # shared names and numbers are what a translation keeps: they make nothing a copy
    assert not looks_copied("Glenn Middleton,", "Glenn Middleton, ", en, fr)
    assert not looks_copied("le South China Morning Post a rapporté dimanche.",
                            "the South China Morning Post reported Sunday.", en, fr)
    assert looks_copied("Der Hund schläft heute sehr lange.", "Der Hund schläft heute sehr lange.",
                        resolve_language("de"), en)  # German nouns are set aside too; the rest still shows the copy


def test_copied_pieces_are_retried_then_flagged(models: dict[str, llamatasks.Model],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from llamatasks.engine.base import GenerationOutput

    m = models["chatml"]
    source = "The weather was cold, so the match was moved to Sunday afternoon."
    french = "Il faisait froid, alors le match a été déplacé au dimanche après-midi."
    calls: list[GenerationOptions] = []

    def answering(first: str, then: str) -> Callable[..., list[GenerationOutput]]:
        def generate(prompts: list[object], options: GenerationOptions, constraints: object = None,
                     contrasts: object = None) -> list[GenerationOutput]:
            calls.append(options)
            text = first if len(calls) == 1 else then
            return [GenerationOutput(token_ids=m.tokenizer.encode(text), finish_reason="stop") for _ in prompts]
        return generate

    monkeypatch.setattr(m.runtime, "generate", answering(source, french))
    fixed = m.translate(source, target="fr", source="en")
    assert fixed.text == french and not fixed.copied_source
    assert [o.repetition_penalty for o in calls] == [1.0, 1.3]

    calls.clear()
    monkeypatch.setattr(m.runtime, "generate", answering(source, source))
    still = m.translate(source, target="fr", source="en")
    assert still.copied_source and len(calls) == 2

    calls.clear()
    monkeypatch.setattr(m.runtime, "generate", answering(french, french))
    assert not m.translate(source, target="fr", source="en").copied_source and len(calls) == 1  # no retry


def test_translation_answer_line() -> None:
    from llamatasks.tasks.translate import answer_line

    assert answer_line("Bonjour à tous.\nNote: this is informal.") == "Bonjour à tous."
    assert answer_line("\nEnglish:\nGood morning.\n") == "Good morning."
    assert answer_line("German translation:\n\nGuten Morgen.") == "Guten Morgen."
    assert answer_line("Zutaten:") == "Zutaten:"  # a label-like line that is all there is stays
    assert answer_line("") == ""


def test_language_detection_skips_codes_without_names(monkeypatch: pytest.MonkeyPatch) -> None:
    import py3langid

    from llamatasks.errors import UnknownLanguageError
    from llamatasks.tasks.languages import detect_language

    monkeypatch.setattr(py3langid, "rank", lambda text: [("ext", -1.0), ("en", -2.0)])
    assert detect_language("Hello there").code == "en"
    monkeypatch.setattr(py3langid, "rank", lambda text: [("ext", -1.0)])
    with pytest.raises(UnknownLanguageError):
        detect_language("Hello there")


def test_translation_examples_fit_the_context(models: dict[str, llamatasks.Model],
                                              tiny_checkpoint: Callable[[str], Path]) -> None:
    from llamatasks.tasks.translation_examples import EXAMPLES, examples_for

    assert all(set(example) == set(EXAMPLES[0]) for example in EXAMPLES)  # every example in every language
    assert examples_for("en-GB", "fr-CA") == examples_for("en", "fr") and examples_for("en", "sw") == []
    shown = models["llama3-instruct"].prompt_for("translate", "Good morning.", target="fr", source="en")[0].text
    first_en, first_fr = examples_for("en", "fr")[0]
    assert first_en in shown and first_fr in shown
    assert examples_for("en", "fr")[1][0] not in shown  # a chat model is shown one example
    base = models["llama1"].prompt_for("translate", "Good morning.", target="fr", source="en")[0].text
    assert all(en in base and fr in base for en, fr in examples_for("en", "fr"))  # a base model, all of them
    unknown = models["llama3-instruct"].prompt_for("translate", "Good morning.", target="sw", source="en")[0].text
    assert first_en not in unknown  # no examples for this direction: zero-shot
    small = llamatasks.load(tiny_checkpoint("llama3-instruct"), max_context=160)
    assert first_en not in small.prompt_for("translate", "Good morning.", target="fr", source="en")[0].text


def test_translation_confidence_is_how_much_the_source_explains_the_output(
        models: dict[str, llamatasks.Model], monkeypatch: pytest.MonkeyPatch) -> None:
    import math

    from llamatasks.engine.base import Capability
    from llamatasks.tasks.languages import resolve_language
    from llamatasks.tasks.translate import LOW_CONFIDENCE, TranslateTask
    from llamatasks.tasks.translation_examples import EXAMPLES, other_sentence

    m = models["llama3.1-instruct"]
    text = "The cat sleeps on the warm roof."
    generated: list[Any] = []
    generate = m.runtime.generate
    monkeypatch.setattr(m.runtime, "generate", lambda *a, **k: generated.append(generate(*a, **k)) or generated[-1])
    out = m.translate(text, target="fr", source="en")
    (final,) = generated[-1]  # one sentence: one piece (the retry's, if it was retried)
    # Recomputed by hand: the output's ids after another source sentence, against after its own prompt.
    other = TranslateTask()._prompt(m.runtime, other_sentence("en", text), resolve_language("en"),
                                    resolve_language("fr"))
    ((other_lp,),) = m.runtime.score([ScoreRequest(prompt=tuple(other.ids), continuations=(tuple(final.token_ids),))])
    ratio = (sum(final.token_logprobs) - other_lp) / len(final.token_ids)
    assert out.confidence == pytest.approx(1 / (1 + math.exp(-ratio)), abs=1e-6)
    assert out.low_confidence == (out.confidence < LOW_CONFIDENCE)
    # The other sentence is never the text itself, and languages without built-in sentences use English ones.
    assert other_sentence("en", other_sentence("en", text)) != other_sentence("en", text)
    assert other_sentence("sw", "Habari") in {example["en"] for example in EXAMPLES}
    # An engine that cannot score gives no confidence, and so no low-confidence flag.
    monkeypatch.setattr(type(m.engine), "capabilities", frozenset(set(m.engine.capabilities) - {Capability.SCORE}))
    blind = m.translate(text, target="fr", source="en")
    assert blind.text == out.text and blind.confidence is None and not blind.low_confidence
