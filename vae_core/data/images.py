"""An uploaded picture as an input the model knows, made the way MNIST was made.

MNIST (LeCun et al., 1998): white ink on black, the digit's bounding box scaled to fit 20×20
(aspect kept, anti-aliased), placed in a 28×28 field with its centre of mass at the centre.
scikit-learn's 8×8 digits fill the whole height of their field, so there the box is 8×8. A
photo of ink on paper is inverted (light background), a drawing on a transparent background
uses its alpha as ink, and thin pen strokes are thickened to about a dataset's stroke width
before shrinking, so that they do not fade to grey.
"""

from __future__ import annotations

import io
import math
import threading
import warnings

import numpy as np
from PIL import Image, ImageFilter, UnidentifiedImageError

MAX_BYTES = 2 * 1024 * 1024  # the upload limit, also the server's (server.maxUploadSize in .streamlit/config.toml)
MAX_PIXELS = 40_000_000  # by the file's header, before anything is decoded
MAX_DECODED_BYTES = 48 * 2**20  # the decoder's own buffer: 4000×3000 in colour (4 bytes a pixel), 48 Mpx in grey
MAX_SIDE = 600  # a picture is reduced to at most this before any float work (the ink's box needs 200)
DECODE_SLOTS = threading.BoundedSemaphore(2)  # decodes at once in this process: 2 × MAX_DECODED_BYTES at most
FORMATS = ("PNG", "JPEG")
BOX = {28: 20, 8: 8}  # field size -> longest side of the ink's box in it
STROKE = 0.12  # a dataset's stroke width as a fraction of the box (about 2.5 of MNIST's 20 pixels)
WORK = 10  # the crop is shrunk to WORK × box before thickening (cheap, and still sharp)
REDUCIBLE = ("L", "LA", "RGB", "RGBA", "I", "F")  # modes Image.reduce takes as they are
STRIP = 64  # output rows reduced at a time: a strip of the decoded picture costs width × 64 × factor pixels
EXIF_ORIENTATION = 0x0112
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageError(ValueError):
    """A file that cannot become an input; the message says why, for the person who sent it."""


def read_picture(data: bytes) -> Image.Image:
    """Bytes of a PNG or JPEG (at most MAX_BYTES) -> an upright PIL image, at most MAX_SIDE a side.

    Memory is bounded by design: the header is checked before decoding, a JPEG is decoded at
    1/2, 1/4 or 1/8 scale (``Image.draft``), a PNG (which has no such mode) into a buffer of at
    most MAX_DECODED_BYTES that is reduced strip by strip, and at most two pictures are decoded
    at once in the process (DECODE_SLOTS), however many people upload together.
    """
    if not data:
        raise ImageError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ImageError(f"The file is {len(data) / 2**20:.1f} MB; the limit is {MAX_BYTES / 2**20:.0f} MB.")
    try:
        with warnings.catch_warnings(), DECODE_SLOTS:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
            if picture.format not in FORMATS:
                raise ImageError(f"This is a {picture.format} image; please send a PNG or a JPEG.")
            if picture.width * picture.height > MAX_PIXELS:
                raise ImageError(f"The picture is {picture.width}×{picture.height} pixels; that is too many.")
            orientation = picture.getexif().get(EXIF_ORIENTATION)
            if picture.format == "JPEG":
                scale = MAX_SIDE / max(picture.size)  # grey, at the smallest of 1/1..1/8 that keeps MAX_SIDE
                picture.draft("L", (math.ceil(picture.width * scale), math.ceil(picture.height * scale)))
            if picture.width * picture.height * _bytes_per_pixel(picture.mode) > MAX_DECODED_BYTES:
                raise ImageError(
                    f"The picture is {picture.width}×{picture.height} pixels, too large to decode here; "
                    "please send a smaller copy (4000×3000 or less)."
                )
            picture.load()
            small = _shrink(picture)
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError, Warning) as e:
        raise ImageError(f"This file is not a readable PNG or JPEG image ({type(e).__name__}).") from e
    return small.transpose(TRANSPOSE[orientation]) if orientation in TRANSPOSE else small


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow's decoder holds per pixel (it stores every multi-band mode as 4 bytes)."""
    return {"1": 1, "L": 1, "P": 1, "I;16": 2}.get(mode, 4)


def _shrink(picture: Image.Image) -> Image.Image:
    """The decoded picture reduced by a whole factor to at most MAX_SIDE a side, a strip at a time,
    so that no full-size copy in another mode (RGBA for a palette, say) is ever made."""
    factor = -(-max(picture.size) // MAX_SIDE)  # ceiling division
    if factor == 1:
        return picture
    transparent = "A" in picture.getbands() or "transparency" in picture.info
    keep = picture.mode in REDUCIBLE and "transparency" not in picture.info  # a colour key needs converting
    mode = picture.mode if keep else ("RGBA" if transparent else "L")
    width, height = picture.size
    out = Image.new(mode, (-(-width // factor), -(-height // factor)))
    rows = STRIP * factor
    for top in range(0, height, rows):
        strip = picture.crop((0, top, width, min(height, top + rows)))
        out.paste((strip if strip.mode == mode else strip.convert(mode)).reduce(factor), (0, top // factor))
    return out


def ink(picture: Image.Image) -> np.ndarray:
    """How much ink each pixel holds, in [0, 1]: (H, W) float32, ink bright, background 0."""
    if "A" in picture.getbands() or "transparency" in picture.info:
        alpha = np.asarray(picture.convert("RGBA"), dtype=np.float32)[..., 3] / 255
        if alpha.min() < 0.5:  # drawn on a transparent background: the alpha is the ink
            return _stretch(alpha, 0.0)
    gray = np.asarray(picture.convert("L"), dtype=np.float32) / 255
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper: MNIST's ink is bright
        gray, background = 1 - gray, 1 - background
    return _stretch(gray, background)


def _stretch(values: np.ndarray, background: float) -> np.ndarray:
    top = float(values.max())
    if top - background < 0.15:
        raise ImageError("No drawing found: the picture is (almost) one flat colour.")
    scaled = np.clip((values - background) / (top - background), 0, 1)
    return np.clip((scaled - 0.1) / 0.9, 0, 1).astype(np.float32)  # drop paper texture and JPEG noise


def to_dataset_image(data: bytes, size: int) -> np.ndarray:
    """An uploaded PNG/JPEG as one dataset image: (size * size,) float32 in [0, 1], ink bright.

    ``size`` is 28 (MNIST-like) or 8 (scikit-learn digits). Raises ImageError with a readable
    message for anything that is not a usable picture.
    """
    if size not in BOX:
        raise ValueError(f"size must be one of {sorted(BOX)}, got {size}")
    return ink_to_dataset_image(ink(read_picture(data)), size)


def ink_to_dataset_image(strokes: np.ndarray, size: int) -> np.ndarray:
    """Ink (H, W) in [0, 1] as one dataset image (size * size,): cropped to the ink, its box fitted,
    thin strokes thickened, centred by its centre of mass. The drawing pad's JavaScript
    (``app_pages/draw_prepare.js``) does the same to a canvas; this is its reference."""
    rows, cols = np.nonzero(strokes > 0.25)
    if len(rows) == 0:
        raise ImageError("No drawing found: the picture is (almost) one flat colour.")
    crop = strokes[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    box = BOX[size]
    work = _fit(crop, WORK * box)
    work = _thicken(work, STROKE * WORK * box)
    return centre(_fit(work, box), size).reshape(-1)


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    """Scale (H, W) so that its longer side is ``side`` (aspect kept), anti-aliased."""
    h, w = image.shape
    scale = side / max(h, w)
    shape = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = np.asarray(Image.fromarray(image.astype(np.float32)).resize(shape, Image.Resampling.LANCZOS))
    return np.clip(out, 0, 1)


def _thicken(image: np.ndarray, target: float) -> np.ndarray:
    """Dilate strokes thinner than ``target`` pixels; width ~ 2 * area / perimeter of the ink."""
    mask = image > 0.5
    if not mask.any():
        return image
    inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    perimeter = max(1, int(mask.sum() - inner.sum()))
    width = 2 * mask.sum() / perimeter
    grow = round(float(target - width))
    if grow < 2:
        return image
    kernel = grow + 1 if grow % 2 == 0 else grow  # MaxFilter takes an odd size
    padded = np.pad(image, kernel)
    thick = np.asarray(Image.fromarray(padded.astype(np.float32)).filter(ImageFilter.MaxFilter(kernel)))
    rows, cols = np.nonzero(thick > 0.05)
    return thick[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def centre(image: np.ndarray, size: int) -> np.ndarray:
    """(h, w) ink placed in a (size, size) field with its centre of mass at the middle
    (as far as the field allows) and its brightest pixel at 1."""
    h, w = image.shape
    field = np.zeros((size, size), dtype=np.float32)
    total = float(image.sum())
    ys, xs = np.mgrid[0:h, 0:w]
    cy = (ys * image).sum() / total if total else (h - 1) / 2
    cx = (xs * image).sum() / total if total else (w - 1) / 2
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - h))
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - w))
    field[top : top + h, left : left + w] = image
    peak = field.max()
    return field / peak if peak > 0 else field
