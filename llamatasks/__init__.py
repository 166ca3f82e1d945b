"""llamatasks: typed NLP tasks on LLaMA-family language models.

``import llamatasks`` is cheap: torch and transformers load with a model.
"""

from llamatasks.api import (
    answer,
    chat,
    classify,
    get_model,
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
    Entities,
    Entity,
    Generation,
    Provenance,
    Sentiment,
    Summary,
    Translation,
)

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Classification",
    "Entities",
    "Entity",
    "Generation",
    "LlamaTasksError",
    "Model",
    "ModelProfile",
    "Provenance",
    "Sentiment",
    "Summary",
    "Translation",
    "__version__",
    "answer",
    "chat",
    "classify",
    "get_model",
    "load",
    "ner",
    "run",
    "sentiment",
    "summarize",
    "translate",
]
