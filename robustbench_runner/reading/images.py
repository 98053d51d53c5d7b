"""Encoded images (Tiny ImageNet's JPEGs), decoded with PIL after checks from the header.

The width and height are read from the header (``Image.open`` decodes nothing) and checked
against ``max_pixels`` and the expected size *before* decoding, so neither a decompression
bomb (also PIL's own ``DecompressionBombError``) nor an oversized image is ever decoded. Anything PIL cannot read (truncated, not an image) is one
:class:`.files.BadFile` line naming the file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .files import LIMITS, BadFile, read_bytes

#: a bound on width x height for one image (Tiny ImageNet's are 64 x 64)
MAX_PIXELS = 4096 * 4096


def load_image(
    path: str | Path,
    *,
    size: tuple[int, int] | None = None,
    mode: str = "RGB",
    max_pixels: int = MAX_PIXELS,
    what: str | None = None,
    fix: str | None = None,
    max_bytes: int = LIMITS["image"],
) -> np.ndarray:
    """The image at ``path`` as a uint8 ``(H, W, C)`` array in ``mode``; ``size``: the
    ``(width, height)`` it must have (checked before decoding)."""
    from PIL import Image, UnidentifiedImageError

    data = read_bytes(path, max_bytes=max_bytes, what=what, fix=fix)
    try:
        # no warnings.catch_warnings here: it swaps process-wide state and the loaders decode in
        # threads. PIL only warns (DecompressionBombWarning) above its own MAX_IMAGE_PIXELS, far
        # above ``max_pixels``: such an image is refused by the check below all the same.
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise BadFile(path, f"declares {w}x{h} pixels, over the {max_pixels:,}-pixel bound (a decompression bomb?)", fix=fix, what=what)
            if size is not None and (w, h) != tuple(size):
                raise BadFile(path, f"is {w}x{h}, expected {size[0]}x{size[1]}", fix=fix, what=what)
            arr = np.asarray(im.convert(mode), dtype=np.uint8)
    except BadFile:
        raise
    except Image.DecompressionBombError as e:  # PIL refuses above twice its MAX_IMAGE_PIXELS
        raise BadFile(path, f"is refused as a decompression bomb ({' '.join(str(e).split())[:120]})", fix=fix, what=what) from None
    except UnidentifiedImageError:
        raise BadFile(path, "is not an image PIL can identify", fix=fix, what=what) from None
    except Exception as e:  # truncated data, broken headers: OSError, SyntaxError, ValueError, ...
        raise BadFile(path, f"is a damaged image ({type(e).__name__}: {' '.join(str(e).split())[:120]})", fix=fix, what=what) from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr
