"""spaCy pipeline components backed by llamatasks.

Installed, spaCy finds them through the ``spacy_factories`` entry points, so no import is needed::

    nlp = spacy.blank("en")
    nlp.add_pipe("llamatasks_ner", config={"model": "path/to/model"})   # doc.ents
    nlp.add_pipe("llamatasks_textcat", config={"labels": ["sports", "politics"]})   # doc.cats
    nlp.add_pipe("llamatasks_sentiment")   # doc.cats: positive, negative

Importing this package registers them too (and the ``doc._`` extensions), e.g. in tests.
"""

from llamatasks_spacy.categories import (
    CategoryComponent,
    SentimentScorer,
    TextCategorizer,
)
from llamatasks_spacy.component import LlamaTasksComponent
from llamatasks_spacy.entities import (
    EntityAlignment,
    EntityRecognizer,
    EntityRecord,
    align_entities,
)
from llamatasks_spacy.factories import make_ner, make_sentiment, make_textcat
from llamatasks_spacy.reference import ModelReference

__version__ = "0.1.0"

__all__ = [
    "CategoryComponent",
    "EntityAlignment",
    "EntityRecognizer",
    "EntityRecord",
    "LlamaTasksComponent",
    "ModelReference",
    "SentimentScorer",
    "TextCategorizer",
    "__version__",
    "align_entities",
    "make_ner",
    "make_sentiment",
    "make_textcat",
]
