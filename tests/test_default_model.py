"""The embedded default model (SmolLM2-135M-Instruct) gives sane answers."""

from __future__ import annotations

import pytest

import llamatasks

pytestmark = pytest.mark.default_model


@pytest.fixture(scope="module")
def model() -> llamatasks.Model:
    from llamatasks.sources import default_gguf

    try:
        default_gguf()
    except llamatasks.errors.ModelNotFoundError as exc:
        pytest.skip(str(exc))
    return llamatasks.load()


def test_profile(model: llamatasks.Model) -> None:
    assert model.profile.prompt_format == "chatml" and model.profile.generation == "community"
    assert model.tokenizer.token_id("<|im_end|>") in model.profile.stop_token_ids
    assert model.profile.gqa and model.profile.context_length == 8192


def test_obvious_sentiment(model: llamatasks.Model) -> None:
    positive, negative = model.sentiment(["I absolutely love this phone, it works perfectly!",
                                          "Terrible. It broke after one day and support ignored me."])
    assert positive.label == "positive" and negative.label == "negative"


def test_paris_is_a_location(model: llamatasks.Model) -> None:
    entities = model.ner("Yesterday I flew to Paris.").entities
    assert [(e.text, e.label, e.start, e.end) for e in entities] == [("Paris", "LOC", 20, 25)]


def test_summary_length_is_honoured(model: llamatasks.Model) -> None:
    text = ("The city council voted on Tuesday to approve a new budget that increases funding for public "
            "transport by 20 percent. The plan also adds bike lanes and a pilot program for electric buses. "
            "Critics say the budget raises property taxes too much.")
    summary = model.summarize(text, max_words=20)
    assert 3 <= summary.words <= 20 and summary.text != text
    assert summary.text[0].isupper()  # the model continues "In summary," in lower case; the summary starts a sentence


def test_translation_into_english(model: llamatasks.Model) -> None:
    result = model.translate("Merci beaucoup.", target="en")
    assert result.source == "fr" and result.text.strip() and result.text != "Merci beaucoup."


def test_cached_load_is_reused() -> None:
    from llamatasks.sources import default_gguf, gguf_to_folder

    folder = gguf_to_folder(default_gguf())
    assert (folder / "model.safetensors").exists() and (folder / "config.json").exists()
    assert "rope_theta" in (folder / "config.json").read_text()
