"""An uploaded picture becomes a dataset-like image; a bad file becomes a clear ImageError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vae_core.data.images import MAX_BYTES, ImageError, to_dataset_image


def encoded(picture: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    picture.save(out, fmt)
    return out.getvalue()


def seven(size=(400, 600), paper=235, ink=25, mode="L", offset=(0, 0)) -> Image.Image:
    """A thick '7' drawn off-centre, as a photo of a page would hold it."""
    picture = Image.new(mode, size, paper)
    draw = ImageDraw.Draw(picture)
    dx, dy = offset
    draw.line([(60 + dx, 80 + dy), (300 + dx, 80 + dy), (150 + dx, 500 + dy)], fill=ink, width=40)
    return picture


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return (ys * image).sum() / image.sum(), (xs * image).sum() / image.sum()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_dark_ink_on_light_paper_becomes_bright_ink_centred_in_28x28(fmt):
    x = to_dataset_image(encoded(seven(offset=(60, -40)), fmt), 28)
    image = x.reshape(28, 28)
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() == pytest.approx(1.0)
    assert image[0].max() < 0.05 and image[:, 0].max() < 0.05, "background is dark"
    rows, cols = np.nonzero(image > 0.25)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21), "the ink's box is scaled to MNIST's 20 pixels"
    cy, cx = centre_of_mass(image)
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1


def test_light_ink_on_dark_is_kept_and_gives_the_same_image():
    dark = to_dataset_image(encoded(seven(paper=20, ink=230)), 28)
    light = to_dataset_image(encoded(seven()), 28)
    assert np.abs(dark - light).max() < 0.05


def test_a_drawing_on_a_transparent_background_uses_its_alpha():
    picture = seven(mode="RGBA", paper=(0, 0, 0, 0), ink=(0, 0, 0, 255))
    assert np.abs(to_dataset_image(encoded(picture), 28) - to_dataset_image(encoded(seven()), 28)).max() < 0.05


def test_eight_by_eight_fills_the_height_like_the_digits_dataset():
    image = to_dataset_image(encoded(seven()), 8).reshape(8, 8)
    rows, _ = np.nonzero(image > 0.25)
    assert rows.min() == 0 and rows.max() == 7


def test_a_thin_pen_stroke_is_thickened_not_faded():
    picture = Image.new("L", (1000, 1000), 255)
    ImageDraw.Draw(picture).line([(500, 100), (500, 900)], fill=0, width=4)
    image = to_dataset_image(encoded(picture), 28).reshape(28, 28)
    assert (image > 0.5).sum(axis=1).max() >= 2, "a stroke at least two pixels wide"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"just some text, not a picture", "not a readable PNG or JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not a readable PNG or JPEG"),
        (b"0" * (MAX_BYTES + 1), "limit is 2 MB"),
        (encoded(Image.new("L", (64, 64), 128)), "No drawing found"),
        (encoded(Image.new("RGB", (64, 64)), "GIF"), "PNG or a JPEG"),
    ],
)
def test_bad_files_get_a_readable_reason(data, message):
    with pytest.raises(ImageError, match=message):
        to_dataset_image(data, 28)


def test_a_truncated_png_is_an_image_error():
    data = encoded(seven())
    with pytest.raises(ImageError):
        to_dataset_image(data[: len(data) // 2], 28)
