"""Images as task input (the ``vision`` extra: Pillow).

``describe``, ``answer(question, image=...)``, ``classify(image=..., labels=...)``
and ``chat(..., images=[...])`` run on LLaMA 3.2 Vision and Llama 4 folders.
Nothing here imports Pillow, torch or transformers until an image is read.
"""

from llamatasks.vision.images import (
    IMAGE_FORMATS,
    MAX_IMAGE_PIXELS,
    MAX_IMAGES_PER_PROMPT,
    ImageInput,
    is_image,
    load_image,
    load_images,
)

__all__ = ["IMAGE_FORMATS", "MAX_IMAGES_PER_PROMPT", "MAX_IMAGE_PIXELS", "ImageInput", "is_image", "load_image",
           "load_images"]
