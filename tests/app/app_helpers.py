"""Helpers for the AppTest tests: train a model into the cache, poll, read images and charts."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from vae_core import RunConfig, get_or_train, make_config

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def pretrained(**overrides) -> RunConfig:
    """Train (or find in the session's cache) a digits model with these sidebar settings."""
    config = make_config(overrides.pop("dataset", "digits"), **overrides)
    get_or_train(config)
    return config


def poll_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 120.0) -> AppTest:
    """Rerun the app (run_every never fires in AppTest) until ``done(at)`` or the timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(0.2)
    raise AssertionError("the app never reached the expected state")


def refining(at: AppTest) -> bool:
    """Whether a page still streams pieces of its views in (it says so in a caption)."""
    return any(c.value.startswith("Refining") for c in at.caption)


def settled(at: AppTest, timeout: float = 120.0) -> AppTest:
    """The page once every piece of its views has landed."""
    return at if not refining(at) else poll_until(at, lambda a: not refining(a), timeout)


def images(at: AppTest) -> list[str]:
    """The media URLs of every st.image on the page (each URL hashes the picture)."""
    return [img.url for element in at.get("image") for img in element.proto.imgs]


def plotly_specs(at: AppTest) -> dict[str, dict]:
    """Figure JSON of each keyed plotly chart, by key."""
    import json

    return {c.proto.id.split("-")[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def array(value) -> list:
    """A plotly JSON array as a list (plotly 6 sends numpy arrays as base64 ``bdata``)."""
    import base64

    import numpy as np

    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        if "shape" not in value:
            return flat.tolist()
        shape = value["shape"]  # plotly writes it as "121, 121"
        return flat.reshape([int(n) for n in shape.split(",")] if isinstance(shape, str) else shape).tolist()
    return list(value)


def component_data(at: AppTest, name: str) -> list[dict]:
    """The JSON data sent to each st.components.v2 component called ``name``, in page order."""
    import json

    return [json.loads(e.proto.json) for e in at.get("bidi_component") if e.proto.component_name == name]


def codes_chart(at: AppTest, key: str) -> dict | None:
    """The payload of the codes chart ``key`` (app_pages/codes_chart.py), None if the page has none;
    its codes decoded: ``xy`` (N, 2) and ``label`` (N,) by test-set row, ``drawn`` the rows in order."""
    import base64

    import numpy as np

    charts = [c for c in component_data(at, "vae_lab.codes_chart") if c["filename"] == key]
    if not charts:
        return None
    (chart,) = charts
    rows = np.frombuffer(base64.b64decode(chart["rows"]), dtype="<u4")
    xy, label = np.full((rows.max() + 1, 2), np.nan), np.full(rows.max() + 1, -1)
    xy[rows] = np.frombuffer(base64.b64decode(chart["xy"]), dtype="<f4").reshape(len(rows), 2)
    label[rows] = np.frombuffer(base64.b64decode(chart["labels"]), dtype=np.uint8)
    return chart | {"xy": xy, "label": label, "drawn": rows}
