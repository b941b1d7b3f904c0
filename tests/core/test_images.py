"""An uploaded picture becomes a dataset-like image; a bad file becomes a clear ImageError."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from vae_core.data.images import MAX_BYTES, MAX_SIDE, ImageError, read_picture, to_dataset_image


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


# -- memory bounded by design: a picture is reduced before it becomes floats ----------------------

PEAK_SCRIPT = """
import io, sys
from pathlib import Path
from PIL import Image, ImageDraw, ImageFile
from vae_core.data.images import to_dataset_image

def hwm():  # the process's peak resident set so far, in MB
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024

side, fmt = int(sys.argv[1]), sys.argv[2]
picture = Image.new("L", (side, side), 255)
ImageDraw.Draw(picture).line([(side // 2, side // 8), (side // 2, side * 7 // 8)], fill=0, width=side // 10)
out = io.BytesIO()
picture.save(out, fmt, optimize=True)
data = out.getvalue()
del picture, out
before = hwm()
to_dataset_image(data, 28)
print(len(data), hwm() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
@pytest.mark.parametrize(("side", "fmt", "bound_mb"), [(6300, "PNG", 120), (6000, "JPEG", 60)])
def test_a_decompression_bomb_costs_a_bounded_amount_of_memory(side, fmt, bound_mb):
    """A 6300×6300 PNG of ~50 KB once took +640 MB (a float copy of every pixel, several times)."""
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(side), fmt], capture_output=True, text=True, check=True
    )
    size, growth = out.stdout.split()
    assert int(size) < MAX_BYTES
    assert float(growth) < bound_mb, f"peak resident memory grew by {float(growth):.0f} MB"


def test_a_large_picture_is_reduced_before_any_float_work():
    big = seven().resize((4000, 6000))
    picture = read_picture(encoded(big))
    assert max(picture.size) <= MAX_SIDE and picture.size == (400, 600)
    assert picture.mode == "L"
    # ... and gives the same dataset image as the picture that was that small to begin with
    assert np.abs(to_dataset_image(encoded(big), 28) - to_dataset_image(encoded(seven()), 28)).max() < 0.15


def test_a_jpeg_is_decoded_at_a_reduced_scale(monkeypatch):
    sizes = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: (sizes.append(self.size), load(self))[1])
    read_picture(encoded(seven().resize((4000, 6000)), "JPEG"))
    assert sizes[0] == (500, 750), f"the decoder was asked for {sizes[0]}"  # 1/8 scale: the first >= 600 a side


def test_a_palette_png_with_transparency_is_reduced_in_strips():
    picture = seven(size=(2400, 3600), mode="P", paper=0, ink=1)
    picture.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    picture.info["transparency"] = 0
    x = to_dataset_image(encoded(picture), 28)
    assert np.abs(x - to_dataset_image(encoded(seven()), 28)).max() < 0.15


def test_too_many_colour_pixels_to_decode_is_a_message_not_a_buffer():
    picture = Image.new("RGB", (5000, 5000), "white")  # 25 Mpx: allowed by the header, 100 MB to decode
    with pytest.raises(ImageError, match="too large to decode"):
        to_dataset_image(encoded(picture), 28)


def test_at_most_two_pictures_are_decoded_at_once(monkeypatch):
    running, peak, lock = [0], [0], threading.Lock()
    load = ImageFile.ImageFile.load

    def slow_load(self):
        if not self.tile:  # already decoded
            return load(self)
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        try:
            return load(self)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow_load)
    data = encoded(seven())
    threads = [threading.Thread(target=to_dataset_image, args=(data, 28)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert peak[0] == 2
