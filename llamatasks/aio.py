"""The async API: ``await llamatasks.asentiment(text)``, ``await model.achat(prompt)``...

Each coroutine runs its synchronous twin in a worker thread
(``asyncio.to_thread``), so inference never blocks the event loop, and returns
exactly what the twin returns: one ``Model`` is safe under any mix of threads
and coroutines (``docs/concurrency.md``). The context of the awaiting task goes
with the call, so ``stream=True`` works the same way: the awaited value is a
``TextStream``, read with ``async for``.

Coroutines share the loop's default executor; for many concurrent callers,
batch texts into one list call (``await m.asentiment(texts)``) or use
``llamatasks serve``, which gathers concurrent requests into list calls.
"""

from __future__ import annotations

from llamatasks import api
from llamatasks.offload import off_loop

asummarize = off_loop(api.summarize)
atranslate = off_loop(api.translate)
aner = off_loop(api.ner)
asentiment = off_loop(api.sentiment)
aclassify = off_loop(api.classify)
aanswer = off_loop(api.answer)
achat = off_loop(api.chat)
arun = off_loop(api.run)

__all__ = ["aanswer", "achat", "aclassify", "aner", "arun", "asentiment", "asummarize", "atranslate", "off_loop"]
