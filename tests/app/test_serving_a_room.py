"""Serving a room (AppTest): with an access code students view and move sliders, and only the
lecturer starts and stops runs; a limit on runs per session."""

from __future__ import annotations

from app_helpers import poll_until, pretrained

from vae_core.store.room import ACCESS_CODE_ENV, MAX_RUNS_ENV


def unlock(at, code: str):
    at.sidebar.text_input(key="access_code").input(code)
    at.button(key="access_unlock").click().run()
    return at


def test_with_an_access_code_a_student_cannot_start_or_stop_runs(open_app, empty_cache, monkeypatch):
    """There was once no way to keep a room of students from starting unlimited runs."""
    monkeypatch.setenv(ACCESS_CODE_ENV, "blue-heron-42")
    at = open_app(epochs=3)
    assert at.button(key="start").disabled and at.button(key="stop").disabled
    assert any("needs the lecturer's code" in c.value for c in at.caption)
    at.select_slider(key="beta").set_value(4.0).run()  # sliders still move
    assert at.select_slider(key="beta").value == 4.0
    unlock(at, "guess")
    assert any("not the lecturer's code" in e.value for e in at.sidebar.error)
    assert at.button(key="start").disabled
    assert at.session_state["access_code"] == "", "a typed code is not kept in the session"


def test_the_lecturer_unlocks_a_session_and_sees_the_runs_panel(open_app, empty_cache, monkeypatch):
    monkeypatch.setenv(ACCESS_CODE_ENV, "blue-heron-42")
    at = unlock(open_app(epochs=400), "blue-heron-42")
    assert any("Lecturer: this session can start and stop runs" in c.value for c in at.sidebar.caption)
    at.button(key="start").click().run()
    assert not at.button(key="stop").disabled
    (stop,) = [b for b in at.sidebar.button if b.key.startswith("stop_run_")]
    stop.click().run()
    poll_until(at, lambda at: any("stopped" in w.value for w in at.warning))


def test_a_student_views_a_model_the_lecturer_trained(open_app, empty_cache, monkeypatch):
    monkeypatch.setenv(ACCESS_CODE_ENV, "blue-heron-42")
    pretrained(epochs=3)
    at = open_app("latent", epochs=3)
    assert at.slider(key="z1")
    at.select_slider(key="beta").set_value(2.0).run()
    assert at.button(key="train_now").disabled, "an untrained β: offered, but only to the lecturer"


def test_a_session_starts_at_most_the_limit(open_app, empty_cache, monkeypatch):
    monkeypatch.setenv(MAX_RUNS_ENV, "1")
    at = open_app(epochs=2)
    at.button(key="start").click().run()
    poll_until(at, lambda at: at.button(key="stop").disabled and bool(at.metric))
    at.number_input(key="seed").set_value(7).run()
    assert at.button(key="start").disabled
    assert any("started 1 runs, the most the lecturer allows" in c.value for c in at.caption)
