"""Images as task input: from a path, bytes or a PIL image, checked before any model sees them.

URLs are never fetched (a task must not make network requests on the caller's
behalf): download the image and pass its bytes. Pillow is the ``vision`` extra
and is imported when the first image is read.

Limits, checked from the header before the pixels are decoded:

* at most :data:`MAX_IMAGE_PIXELS` pixels (a decompression-bomb guard; vision
  models resize every image to a few tiles of 336-560 pixels anyway);
* the formats in :data:`IMAGE_FORMATS`; an animated image uses its first frame.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from llamatasks.errors import (
    BackendUnavailableError,
    CorruptImageError,
    ImageTooLargeError,
    InputTypeError,
    InvalidInputError,
    UnsupportedImageError,
)

if TYPE_CHECKING:
    from PIL.Image import Image

#: What an image argument may be: a file path, the file's bytes, or a PIL image.
ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, "Image"]

#: The most pixels (width x height) an image may have: 40 megapixels, e.g. 7,300 x 5,500.
MAX_IMAGE_PIXELS = 40_000_000
#: Pillow format names accepted.
IMAGE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})
#: The most images one prompt may carry (LLaMA 3.2 Vision was trained with one; Llama 4 with up to 5-8).
MAX_IMAGES_PER_PROMPT = 8


def _pil() -> Any:
    try:
        from PIL import Image, ImageFile
    except ImportError as exc:
        raise BackendUnavailableError("image input needs Pillow", hint='pip install "llamatasks[vision]"') from exc
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not a half-grey picture
    return Image


def load_image(image: ImageInput, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image:
    """One image, decoded and converted to RGB.

    Args:
        image: A path (str or ``os.PathLike``), the file's bytes, or a ``PIL.Image.Image``.
        max_pixels: Refuse images with more pixels than this.

    Returns:
        A fully loaded RGB ``PIL.Image.Image`` (a copy: the caller's image is not changed).

    Raises:
        InputTypeError: ``image`` is none of the accepted types.
        UnsupportedImageError: A URL, or a format outside ``IMAGE_FORMATS``.
        CorruptImageError: The bytes do not decode.
        ImageTooLargeError: More than ``max_pixels`` pixels.
        InvalidInputError: The path does not exist or is not a file.
    """
    Image = _pil()
    if isinstance(image, Image.Image):
        _check_size(image.size, max_pixels)
        return image.convert("RGB") if image.mode != "RGB" else image.copy()
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _decode(bytes(image), "the image bytes", max_pixels)
    if isinstance(image, (str, os.PathLike)):
        path = Path(os.fspath(image))
        text = str(image)
        if text.lower().startswith(("http://", "https://", "data:", "ftp://")):
            raise UnsupportedImageError(f"{text[:60]!r} is a URL; llamatasks never fetches URLs")
        if not path.is_file():
            raise InvalidInputError(f"image file not found: {path}", hint="pass an existing file, bytes or a PIL image")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInputError(f"cannot read the image {path}: {exc.strerror}") from exc
        return _decode(data, str(path), max_pixels)
    raise InputTypeError(f"an image must be a path, bytes or a PIL image, got {type(image).__name__}",
                         hint="pass Path('photo.jpg'), open('photo.jpg', 'rb').read() or PIL.Image.open(...)")


def load_images(images: Sequence[ImageInput] | ImageInput, *, max_pixels: int = MAX_IMAGE_PIXELS,
                limit: int = MAX_IMAGES_PER_PROMPT) -> list[Image]:
    """Several images (one image alone is a list of one); at most ``limit`` of them."""
    items: list[Any] = [images] if _is_single(images) else list(images)  # type: ignore[arg-type]
    if not items:
        raise InvalidInputError("no image given", hint="pass at least one image")
    if len(items) > limit:
        raise InvalidInputError(f"{len(items)} images in one prompt; at most {limit}",
                                hint="split the images over several calls")
    return [load_image(item, max_pixels=max_pixels) for item in items]


def is_image(value: object) -> bool:
    """Whether ``value`` can only be an image (bytes, a path object, a PIL image), not text."""
    if isinstance(value, (bytes, bytearray, memoryview, os.PathLike)):
        return True
    image_type = _loaded_pil_image_type()
    return image_type is not None and isinstance(value, image_type)


def _is_single(value: object) -> bool:
    return isinstance(value, str) or is_image(value)


def _loaded_pil_image_type() -> type | None:
    """``PIL.Image.Image`` if Pillow is already imported (a PIL image cannot exist otherwise)."""
    import sys

    module = sys.modules.get("PIL.Image")
    return getattr(module, "Image", None) if module is not None else None


def _decode(data: bytes, where: str, max_pixels: int) -> Image:
    Image = _pil()
    if not data:
        raise CorruptImageError(f"{where} is empty")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.format not in IMAGE_FORMATS:
                raise UnsupportedImageError(f"{where} is a {opened.format} image; accepted: "
                                            f"{', '.join(sorted(IMAGE_FORMATS))}")
            _check_size(opened.size, max_pixels)  # from the header: nothing decoded yet
            opened.seek(0)  # an animated image: its first frame
            return opened.convert("RGB")
    except (UnsupportedImageError, ImageTooLargeError):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{where} is too large to decode safely: {exc}") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # PIL's UnidentifiedImageError is an OSError
        raise CorruptImageError(f"{where} is not a readable image: {exc}") from exc


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise CorruptImageError(f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLargeError(f"the image is {width}x{height} = {width * height:,} pixels; the limit is "
                                 f"{max_pixels:,} (llamatasks.vision.MAX_IMAGE_PIXELS)")
