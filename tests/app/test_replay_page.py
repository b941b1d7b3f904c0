"""The Replay training page, driven through AppTest on small digits models."""

from __future__ import annotations

import numpy as np
import pytest
from app_helpers import codes_chart, plotly_specs, poll_until, pretrained

from vae_core import lookup
from vae_core.data import load_dataset
from vae_core.store.cache import SNAPSHOTS_FILE
from vae_core.store.replay import replay_of


def scatter_codes(at) -> np.ndarray:
    return codes_chart(at, "replay_scatter")["xy"]


def test_scrubbing_redraws_the_codes_the_map_and_the_cursor(open_app, empty_cache):
    config = pretrained(epochs=5)
    at = open_app("replay", epochs=5)
    slider = at.select_slider(key="replay_frame")
    assert slider.value == len(slider.options) - 1  # opens at the end of the run
    specs = plotly_specs(at)
    assert {"replay_manifold", "replay_curves"} <= specs.keys() and "replay_scatter" not in specs  # the codes chart
    end = codes_chart(at, "replay_scatter")
    end_codes, end_map = end["xy"], specs["replay_manifold"]["data"][0]["source"]
    snaps = replay_of(lookup(config))
    np.testing.assert_allclose(end_codes, snaps["codes"][-1].numpy(), atol=1e-6)  # the last moment's codes, by row
    assert list(end["label"]) == list(load_dataset("digits").y_test[: len(end_codes)].numpy())  # each code's class
    cursor = specs["replay_curves"]["layout"]["shapes"][-1]
    assert cursor["x0"] == lookup(config).metrics["steps_done"]
    slider.set_value(0).run()
    assert not at.exception
    start = codes_chart(at, "replay_scatter")
    np.testing.assert_allclose(start["xy"], snaps["codes"][0].numpy(), atol=1e-6)
    assert start["codes_id"] != end["codes_id"] and start["view_id"] == end["view_id"], "one chart: its zoom stays"
    assert plotly_specs(at)["replay_manifold"]["data"][0]["source"] != end_map
    assert plotly_specs(at)["replay_curves"]["layout"]["shapes"][-1]["x0"] == 0
    at.button(key="replay_play").click().run()  # run_every never fires in AppTest: each run is a frame
    poll_until(at, lambda a: a.select_slider(key="replay_frame").value >= 3, timeout=60)


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_a_model_without_a_readable_replay_says_so(open_app, empty_cache, damage):
    config = pretrained(epochs=3)
    path = lookup(config).path / SNAPSHOTS_FILE
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(b"\x00" * 100)
    at = open_app("replay", epochs=3)
    assert any("Replay isn't available for this model" in i.value for i in at.info)
    assert codes_chart(at, "replay_scatter") is None
