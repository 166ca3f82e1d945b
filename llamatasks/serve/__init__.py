"""``llamatasks serve``: the HTTP service (FastAPI + uvicorn; the ``serve`` extra)."""
