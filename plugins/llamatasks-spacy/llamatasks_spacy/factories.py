"""The spaCy factories ``llamatasks_ner``, ``llamatasks_textcat`` and ``llamatasks_sentiment``.

spaCy finds them through this distribution's ``spacy_factories`` entry points (it imports those when
a ``Language`` is created), or when this package is imported. spaCy checks the config's types from
these signatures; the values are checked here, so a bad one fails in ``nlp.add_pipe`` with the
component's name, not on the first doc.
"""

from __future__ import annotations

from typing import Any

from spacy.language import Language

from llamatasks.plugins import InvalidInputError
from llamatasks_spacy.categories import SentimentScorer, TextCategorizer
from llamatasks_spacy.entities import EntityRecognizer
from llamatasks_spacy.reference import ModelReference, naming_component, task_options

#: Config keys shared by the three factories, with their defaults.
MODEL_CONFIG: dict[str, Any] = {"model": None, "backend": None, "device": "auto", "labels": None, "batch_size": None}


@Language.factory("llamatasks_ner", default_config=MODEL_CONFIG,
                  assigns=["doc.ents", "token.ent_iob", "token.ent_type"])
def make_ner(nlp: Language, name: str, model: str | None, backend: str | None, device: str,
             labels: list[str] | dict[str, str] | None, batch_size: int | None) -> EntityRecognizer:
    """Entities from llamatasks' ``ner`` task as ``doc.ents``.

    Args:
        nlp: The pipeline (spaCy passes it).
        name: The component's name in the pipeline.
        model: A model folder or ``.gguf`` file; None (``null``) for the default model.
        backend: A llamatasks backend; None lets llamatasks choose.
        device: ``auto``, ``cpu``, ``mps`` or ``cuda[:N]``.
        labels: Entity labels (``["PER", "LOC"]``) or labels with the word that describes each
            (``{"DRUG": "medicine"}``); None for PER, ORG, LOC and MISC.
        batch_size: Texts per forward pass; None for llamatasks' default.
    """
    with naming_component("llamatasks_ner", name):
        reference = ModelReference(model, backend, device, batch_size).check()
        ner_labels = tuple(labels) if isinstance(labels, list) else labels
        task_options("ner", labels=ner_labels)
        return EntityRecognizer(name, reference, ner_labels)


@Language.factory("llamatasks_textcat", default_config=MODEL_CONFIG, assigns=["doc.cats"])
def make_textcat(nlp: Language, name: str, model: str | None, backend: str | None, device: str,
                 labels: list[str] | None, batch_size: int | None) -> TextCategorizer:
    """Zero-shot categories from llamatasks' ``classify`` task as ``doc.cats``; ``labels`` (two or more) is required.

    The other arguments are those of :func:`make_ner`.
    """
    with naming_component("llamatasks_textcat", name):
        reference = ModelReference(model, backend, device, batch_size).check()
        if labels is None:
            raise InvalidInputError("labels is required", hint='e.g. config={"labels": ["sports", "politics"]}')
        options = task_options("classify", labels=tuple(labels))
        return TextCategorizer(name, reference, options.labels)


@Language.factory("llamatasks_sentiment", default_config=MODEL_CONFIG, assigns=["doc.cats"])
def make_sentiment(nlp: Language, name: str, model: str | None, backend: str | None, device: str,
                   labels: list[str] | None, batch_size: int | None) -> SentimentScorer:
    """Sentiment from llamatasks' ``sentiment`` task as ``doc.cats``.

    ``labels`` is two or three of positive, negative and neutral (None: positive and negative); the
    other arguments are those of :func:`make_ner`.
    """
    with naming_component("llamatasks_sentiment", name):
        reference = ModelReference(model, backend, device, batch_size).check()
        options = task_options("sentiment", labels=None if labels is None else tuple(labels))
        return SentimentScorer(name, reference, options.labels)
