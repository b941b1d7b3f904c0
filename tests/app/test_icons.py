"""Icons that ship with the app or with Streamlit: no emoji (a machine without an emoji font, such
as headless Chromium on Debian, draws each as an empty box)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import streamlit

ROOT = Path(__file__).resolve().parents[2]
# Characters drawn as emoji by default (Unicode's Emoji_Presentation, the ranges the app could
# meet), and the variation selector that asks for an emoji glyph.
EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u26ff\u2705\u270a\u270b\u2728\u274c\u274e\u2753-\u2755\u2757"
    "\u2795-\u2797\u27b0\u27bf\u231a\u231b\u23e9-\u23fa\u2b50\u2b55\ufe0f]"
)
FILES = [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py")), *sorted((ROOT / "app_pages").glob("*.js"))]
FILES += sorted((ROOT / "vae_core" / "views").glob("*.py"))  # the words and figures the pages show


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_emoji_in_what_the_app_shows(path):
    found = [(n, line.strip()) for n, line in enumerate(path.read_text().splitlines(), 1) if EMOJI.search(line)]
    assert not found, f"emoji in {path.name} (use :material/…: icons): {found[:3]}"


def test_material_icons_ship_with_streamlit():
    """The Material Symbols font is in the streamlit package: the icons load from this server."""
    static = Path(streamlit.__file__).parent / "static"
    assert list(static.rglob("MaterialSymbols-Rounded*.woff2"))
    used = {m for path in FILES for m in re.findall(r":material/([a-z_]+):", path.read_text())}
    assert len(used) >= 10 and all(re.fullmatch(r"[a-z_]+", name) for name in used)


def test_the_favicon_is_the_apps_own_picture():
    """A Material favicon is fetched from fonts.gstatic.com; an emoji one needs an emoji font."""
    assert "page_icon=Image.fromarray(app_icon()" in (ROOT / "app.py").read_text()
