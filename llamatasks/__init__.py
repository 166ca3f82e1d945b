"""llamatasks: typed NLP tasks on LLaMA-family language models.

``import llamatasks`` is cheap: torch and transformers load with a model.
"""

from llamatasks.aio import (
    aanswer,
    achat,
    aclassify,
    aner,
    arun,
    asentiment,
    asummarize,
    atranslate,
)
from llamatasks.api import (
    answer,
    chat,
    classify,
    describe,
    get_model,
    map,
    ner,
    run,
    sentiment,
    summarize,
    translate,
)
from llamatasks.errors import LlamaTasksError
from llamatasks.loading import load
from llamatasks.model import Model
from llamatasks.profile import ModelProfile
from llamatasks.results import (
    Answer,
    Classification,
    Description,
    Entities,
    Entity,
    Generation,
    ItemError,
    Provenance,
    Sentiment,
    Summary,
    Translation,
)

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Classification",
    "Description",
    "Entities",
    "Entity",
    "Generation",
    "ItemError",
    "LlamaTasksError",
    "Model",
    "ModelProfile",
    "Provenance",
    "Sentiment",
    "Summary",
    "Translation",
    "__version__",
    "aanswer",
    "achat",
    "aclassify",
    "aner",
    "answer",
    "arun",
    "asentiment",
    "asummarize",
    "atranslate",
    "chat",
    "classify",
    "describe",
    "get_model",
    "load",
    "map",
    "ner",
    "run",
    "sentiment",
    "summarize",
    "translate",
]
