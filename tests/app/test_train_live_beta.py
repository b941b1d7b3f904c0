"""The Train page's live β (issue 13, view 6), driven through AppTest: moving β mid-run, the
schedule on the curves, and a run saved under its own β schedule."""

from __future__ import annotations

from app_helpers import array, plotly_specs, poll_until

from vae_core import make_config
from vae_core.store.cache import lookup
from vae_core.vae.schedule import with_schedule


def finished(at) -> bool:
    return at.button(key="stop").disabled and bool(at.metric)


def live_beta(at) -> list:
    return [w for w in at.select_slider if w.key.startswith("live_beta")]


def steps_done(at) -> int:
    text = at.get("progress")[0].proto.text if at.get("progress") else ""
    return int(text.split("step ")[1].split("/")[0]) if "step " in text else 0


def test_moving_beta_mid_run_saves_a_run_of_its_own_schedule(open_app, empty_cache):
    at = open_app(epochs=300)  # long enough (a few seconds) to move β while it trains
    assert not live_beta(at)  # no run, no live β
    at.button(key="start").click().run()
    poll_until(at, lambda a: steps_done(a) >= 20)
    live_beta(at)[0].set_value(4.0).run()
    assert not at.exception, at.exception
    poll_until(at, finished)
    constant = make_config("digits", epochs=300)
    assert lookup(constant) is None, "a live-β run is never the constant-β model"
    note = next(i.value for i in at.info if "β changed while this run trained" in i.value)
    assert "then 4 from step" in note
    step = int(note.split("then 4 from step ")[1].split(")")[0])
    scheduled = with_schedule(constant, [(step - 1, 4.0)])
    assert lookup(scheduled) is not None  # stored under its recorded schedule
    schedule = plotly_specs(at)["beta_schedule"]
    betas = array(schedule["data"][0]["y"])
    assert betas[0] == 1.0 and betas[-1] == 4.0 and step > 20
    marks = next(t for t in schedule["data"] if t.get("meta") == "changes")
    assert array(marks["x"]) == [step] and array(marks["y"]) == [4.0]  # where β was moved
    assert not live_beta(at)  # the run has ended: no live control
    assert not at.button(key="start").disabled  # the constant-β model of these settings is still to train


def test_a_run_without_a_schedule_draws_no_beta_chart(open_app, empty_cache):
    at = open_app(epochs=3)
    at.button(key="start").click().run()
    poll_until(at, finished)
    assert "beta_schedule" not in plotly_specs(at) and "curves" in plotly_specs(at)
