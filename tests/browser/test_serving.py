"""Safe to put in front of a class, in a real Chromium against a real server: the server refuses
an oversized upload however it is sent, a link's values stay text (no live link, no outside
image fetched), and an error shows a student no details while the server's log keeps them."""

from __future__ import annotations

import io
from urllib.parse import urlparse

import pytest
from browser_helpers import IDLE, start_server, stop_server
from PIL import Image, ImageDraw

from app_pages.launch import streamlit_flags
from vae_core import get_or_train, make_config
from vae_core.data.images import MAX_BYTES

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def trained_server(tmp_path_factory):
    """The app with the default digits model already in its cache (the own-image page needs one)."""
    folder = tmp_path_factory.mktemp("serving")
    get_or_train(make_config("digits"), folder / "models")
    proc, url = start_server(folder / "models", folder / "streamlit.log")
    yield url
    stop_server(proc)


def small_png() -> bytes:
    picture = Image.new("L", (120, 160), 240)
    ImageDraw.Draw(picture).line([(60, 20), (60, 140)], fill=10, width=14)
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def first_upload(page, server: str, tmp_path):
    """Upload a small picture through the page, as a student would: its PUT request (the URL holds
    the session id, the headers the XSRF token) for a script to replay."""
    puts = []
    page.on("request", lambda r: puts.append(r) if r.method == "PUT" and "/_stcore/upload_file/" in r.url else None)
    page.goto(f"{server}/own_image")
    page.locator("input[type=file]").wait_for(state="attached")
    (tmp_path / "one.png").write_bytes(small_png())
    page.locator("input[type=file]").set_input_files(str(tmp_path / "one.png"))
    page.get_by_text("As the model sees it").wait_for()
    (put,) = puts
    return put


def test_the_server_refuses_an_upload_over_the_limit_even_past_the_browser(trained_server, page, tmp_path):
    """The 2 MB limit was once checked only in the browser: a PUT of 50 MB with the XSRF token got 204."""
    put = first_upload(page, trained_server, tmp_path)
    headers = {"X-Xsrftoken": put.headers["x-xsrftoken"]}
    again = page.request.put(put.url, headers=headers, multipart={"file": _file(small_png())})
    assert again.status == 204, "the replayed upload is a valid one"
    big = page.request.put(put.url, headers=headers, multipart={"file": _file(b"\0" * (MAX_BYTES + 2**20))})
    assert big.status == 413


def test_a_session_keeps_only_its_newest_uploads(trained_server, page, tmp_path):
    """Files PUT under new ids once stayed until the session ended: ten of 50 MB took RSS 433 -> 935 MB."""
    put = first_upload(page, trained_server, tmp_path)
    base = put.url.rsplit("/", 1)[0]
    headers = {"X-Xsrftoken": put.headers["x-xsrftoken"]}
    for i in range(20):  # each under a new file id, as a client that never deletes would
        response = page.request.put(
            f"{base}/{i:08x}-0000-0000-0000-000000000000",
            headers=headers,
            multipart={"file": _file(b"\1" * (MAX_BYTES - 4096))},
        )
        assert response.status == 204
    held = _uploaded_bytes(page.request.get(f"{trained_server}/_stcore/metrics").text())
    assert held <= 2 * MAX_BYTES, f"the server holds {held / 2**20:.0f} MB of this session's uploads"


def _uploaded_bytes(metrics: str) -> int:
    """The uploaded-file manager's bytes in Streamlit's OpenMetrics text (all sessions)."""
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith("cache_memory_bytes") and "UploadedFileManager" in line
    )


def _file(data: bytes) -> dict:
    return {"name": "x.png", "mimeType": "image/png", "buffer": data}


def test_a_links_values_stay_text_and_nothing_is_fetched_from_outside(trained_server, page):
    """The URL-problem warning once rendered a live link, and an image every viewer fetched."""
    outside: list[str] = []
    page.on("request", lambda r: None if urlparse(r.url).hostname in ("127.0.0.1", None) else outside.append(r.url))
    page.goto(
        f"{trained_server}/latent?dataset=[click%20here](https://evil.example/login)"
        "&beta=![t](http://198.51.100.7/track.png)"
    )
    page.wait_for_selector(IDLE)
    page.get_by_text("dataset=[click here](https://evil.example/login)", exact=False).wait_for()
    assert page.get_by_text("beta=![t](http://198.51.100.7/track.png)", exact=False).count() == 1
    assert page.locator("a[href*='evil.example']").count() == 0
    assert page.locator("img[src*='198.51.100.7']").count() == 0
    assert not outside, outside


def test_an_error_shows_a_student_no_details_and_the_log_keeps_them(browser, tmp_path):
    """Errors once showed server paths, the traceback and "Ask Google / Ask ChatGPT" links."""
    script = tmp_path / "boom.py"
    script.write_text('raise RuntimeError(f"secret detail from {__file__}")\n')
    log = tmp_path / "streamlit.log"
    proc, url = start_server(tmp_path / "models", log, script=script, flags=tuple(streamlit_flags()))
    try:
        page = browser.new_page()
        page.goto(url)
        shown = page.locator("[data-testid='stException']")
        shown.wait_for(timeout=60_000)
        text = shown.inner_text()
        assert "secret detail" not in text and str(tmp_path) not in text and "boom.py" not in text
        assert "Traceback" not in text
        assert page.get_by_text("Ask Google").count() == 0 and page.get_by_text("Ask ChatGPT").count() == 0
        page.close()
    finally:
        stop_server(proc)
    assert "secret detail from" in log.read_text() and "Traceback" in log.read_text()
