"""Where the server is: ``llamatasks-openai.json`` in the model folder, overridden by environment variables."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llamatasks.errors import BackendUnavailableError, InvalidInputError

#: The file in a model folder that points the folder at a server (and makes the backend claim it).
CONFIG_FILE = "llamatasks-openai.json"

ENV_PREFIX = "LLAMATASKS_OPENAI_"
_ENV_FIELDS = {"base_url": "BASE_URL", "model": "MODEL", "api_key": "API_KEY"}


class ServerConfig(BaseModel):
    """How to talk to an OpenAI-compatible completions server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(description="The API root, ending in /v1, e.g. http://127.0.0.1:8000/v1.")
    model: str | None = Field(default=None, description="Model name on the server; None: the server's only model.")
    api_key: str | None = Field(default=None, description="Bearer token; prefer LLAMATASKS_OPENAI_API_KEY to a file.")
    token_ids: bool = Field(default=True, description="Send prompts as token ids (vLLM, llama.cpp); False: as text.")
    extensions: bool = Field(
        default=True,
        description="Send vLLM/llama.cpp request fields (stop_token_ids, ignore_eos, return_tokens_as_token_ids); "
                    "False for servers that refuse unknown fields.",
    )
    score: bool | None = Field(default=None, description="Whether the server returns prompt log-probabilities "
                                                         "(echo + logprobs); None: ask it once at load.")
    batch_size: int | None = Field(default=None, ge=1, description="Most prompts per request; None: a whole batch "
                                                                   "at once; 1 for llama-cpp-python's server.")
    timeout: float = Field(default=120.0, gt=0, description="Seconds to wait for one response.")
    images: bool = Field(default=False, description=(
        "Whether the server takes images in /chat/completions (vLLM serving LLaMA 3.2 Vision or Llama 4): image "
        "tasks then send each image as an image_url data URL. False: image tasks are refused."))

    @classmethod
    def for_folder(cls, folder: Path) -> ServerConfig:
        """The folder's ``llamatasks-openai.json``, with ``LLAMATASKS_OPENAI_*`` variables taking precedence."""
        values: dict[str, object] = {}
        file = folder / CONFIG_FILE
        if file.is_file():
            try:
                values = dict(json.loads(file.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                raise InvalidInputError(f"{file} is not a JSON object: {exc}",
                                        hint='e.g. {"base_url": "http://127.0.0.1:8000/v1"}') from exc
        for field, suffix in _ENV_FIELDS.items():
            if os.environ.get(ENV_PREFIX + suffix):
                values[field] = os.environ[ENV_PREFIX + suffix]
        if "base_url" not in values:
            raise BackendUnavailableError(
                f"no server configured for {folder}",
                hint=f"write {CONFIG_FILE} with a base_url into the folder, or set {ENV_PREFIX}BASE_URL",
            )
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise InvalidInputError(f"bad server configuration for {folder}: {exc}",
                                    hint=f"see the fields of {CONFIG_FILE} in llamatasks-openai's README") from exc
