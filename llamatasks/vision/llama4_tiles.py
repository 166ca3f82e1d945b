"""Llama 4's image tiling, without torchvision.

transformers' ``Llama4ImageProcessor`` needs torchvision, which the torch extra
does not install; this is its algorithm (transformers 5.x
``image_processing_llama4.py``) on Pillow and torch: pick the canvas of at most
``max_patches`` square tiles that resizes the image least (never upscaling past
one tile), resize without distortion, pad right/bottom with black, normalize,
cut into tiles, and add a global tile (the whole image at tile size) when
there is more than one. The tile grid, and so the prompt's patch tokens, is the
processor's exactly; pixel values can differ slightly (Pillow's bilinear resize
against torchvision's antialiased one).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass(frozen=True)
class Llama4Tiling:
    """The image processor's settings (preprocessor_config.json) and the processor's patch layout."""

    tile_size: int = 336
    max_patches: int = 16
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    patch_size: int = 14
    pixel_shuffle_ratio: float = 0.5

    @property
    def patches_per_tile(self) -> int:
        """``<|patch|>`` tokens a tile becomes: (tile / patch)^2 patches, pixel-shuffled down."""
        downsample = round(1.0 / self.pixel_shuffle_ratio ** 2)
        return (self.tile_size // self.patch_size) ** 2 // downsample


def supported_canvases(max_patches: int, tile: int) -> list[tuple[int, int]]:
    """Every (height, width) of up to ``max_patches`` tiles, in the processor's order."""
    by_ratio: dict[float, list[tuple[int, int]]] = defaultdict(list)
    for chunks in range(max_patches, 0, -1):
        for factor in sorted({d for i in range(1, int(chunks ** 0.5) + 1) if chunks % i == 0 for d in (i, chunks // i)}):
            by_ratio[factor / (chunks // factor)].append((factor, chunks // factor))
    return [(h * tile, w * tile) for pairs in by_ratio.values() for h, w in pairs]


def best_canvas(height: int, width: int, canvases: list[tuple[int, int]]) -> tuple[int, int]:
    """The canvas that needs the least upscaling (else the least downscaling); the smallest area on ties."""
    scales = [min(w / width, h / height) for h, w in canvases]
    up = [s for s in scales if s >= 1]
    chosen = min(up) if up else max(s for s in scales if s < 1)
    return min((c for c, s in zip(canvases, scales) if s == chosen), key=lambda c: c[0] * c[1])


def _fit(height: int, width: int, target: tuple[int, int]) -> tuple[int, int]:
    """The largest (height, width) within ``target`` with the image's aspect ratio."""
    th, tw = target
    if tw / width < th / height:
        return max(min(math.floor(height * tw / width), th), 1), tw
    return th, max(min(math.floor(width * th / height), tw), 1)


def tile_image(image: Image, tiling: Llama4Tiling) -> tuple[Any, tuple[int, int]]:
    """``(pixel_values (tiles, 3, tile, tile) float32, (rows, columns))`` of one RGB image."""
    import numpy as np
    import torch
    from PIL import Image as PILImage

    width, height = image.size
    tile = tiling.tile_size
    canvas = best_canvas(height, width, supported_canvases(tiling.max_patches, tile))
    limit = (min(max(height, tile), canvas[0]), min(max(width, tile), canvas[1]))
    new_h, new_w = _fit(height, width, limit)
    padded = PILImage.new("RGB", (canvas[1], canvas[0]))
    padded.paste(image.resize((new_w, new_h), PILImage.Resampling.BILINEAR), (0, 0))
    rows, cols = canvas[0] // tile, canvas[1] // tile
    pixels = _normalized(np.asarray(padded), tiling)
    tiles = pixels.reshape(3, rows, tile, cols, tile).transpose(1, 3, 0, 2, 4).reshape(rows * cols, 3, tile, tile)
    if rows * cols > 1:
        whole = _normalized(np.asarray(image.resize((tile, tile), PILImage.Resampling.BILINEAR)), tiling)
        tiles = np.concatenate([tiles, whole[None]], axis=0)
    return torch.from_numpy(np.ascontiguousarray(tiles)), (rows, cols)


def _normalized(pixels: Any, tiling: Llama4Tiling) -> Any:
    import numpy as np

    array = pixels.astype(np.float32).transpose(2, 0, 1) / 255.0
    mean = np.asarray(tiling.mean, np.float32)[:, None, None]
    std = np.asarray(tiling.std, np.float32)[:, None, None]
    return (array - mean) / std


def image_token_ids(grid: tuple[int, int], tiling: Llama4Tiling, ids: dict[str, int]) -> list[int]:
    """The ids Llama4Processor writes for one image (``_prompt_split_image``): tiles, then the global tile."""
    rows, cols = grid
    patches = [ids["<|patch|>"]] * tiling.patches_per_tile
    out = [ids["<|image_start|>"]]
    if rows * cols > 1:
        for _ in range(rows):
            for x in range(cols):
                out += patches
                if x < cols - 1:
                    out.append(ids["<|tile_x_separator|>"])
            out.append(ids["<|tile_y_separator|>"])
    return [*out, ids["<|image|>"], *patches, ids["<|image_end|>"]]
