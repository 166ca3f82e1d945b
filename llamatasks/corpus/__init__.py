"""Corpora at scale: streaming ``map``, the ``batch`` command's resumable jobs and the result cache."""

from llamatasks.corpus.cache import CacheError, ResultCache
from llamatasks.corpus.mapping import DEFAULT_BATCH_SIZE, MapStats, TaskJob, map_texts

__all__ = ["DEFAULT_BATCH_SIZE", "CacheError", "MapStats", "ResultCache", "TaskJob", "map_texts"]
