"""What a student sees of the training queue (AppTest): a place in line on the Train page, the
queue in the sidebar, the runs panel that cancels, and a worker that died."""

from __future__ import annotations

import os
import signal

import pytest
from app_helpers import poll_until

from app_pages.common import registry
from vae_core import make_config
from vae_core.store.sweeps import sweep_configs

LONG = 500  # epochs: a digits run that trains until stopped


@pytest.fixture(autouse=True)
def _one_worker(monkeypatch):
    monkeypatch.setenv("VAE_LAB_WORKERS", "1")


def progress_text(at) -> str:
    return " ".join(p.proto.text for p in at.get("progress"))


def test_a_second_run_waits_in_line_and_the_page_says_where(open_app, empty_cache):
    first = open_app(epochs=LONG, seed=1)
    first.button(key="start").click().run()
    poll_until(first, lambda at: "step" in progress_text(at) and "step 0/" not in progress_text(at))
    second = open_app(epochs=LONG, seed=2)  # another student, other settings
    second.button(key="start").click().run()
    assert "queued — yours is next" in progress_text(second)
    assert any("Waiting for a free worker" in i.value for i in second.info)
    assert second.button(key="start").disabled, "a queued run is not started twice"
    assert any("1 of 1 worker training, 1 run queued" in c.value for c in second.sidebar.caption)
    third = open_app(epochs=LONG, seed=3)
    third.button(key="start").click().run()
    assert "queued — 1 run ahead of yours" in progress_text(third)
    # The runs panel lists all three and cancels a queued one.
    job = registry().get(make_config("digits", epochs=LONG, seed=2))
    cancel = third.button(key=f"stop_run_{job.key}")
    assert cancel.label == "Cancel this run"
    cancel.click().run()
    assert job.wait(30) and job.snapshot().status == "stopped"
    poll_until(third, lambda at: "queued — yours is next" in progress_text(at))
    poll_until(second, lambda at: not at.button(key="start").disabled)


def test_a_worker_that_dies_fails_its_run_and_start_works_again(open_app, empty_cache):
    at = open_app(epochs=LONG)
    at.button(key="start").click().run()
    job = registry().get(make_config("digits", epochs=LONG))
    poll_until(at, lambda at: job.worker_pid is not None and job.snapshot().step > 0)
    os.kill(job.worker_pid, signal.SIGKILL)
    poll_until(at, lambda at: bool(at.error))
    text = at.error[0].value
    assert text.startswith("Training failed: The training process ended before the run did")
    assert "SIGKILL" in text and "nothing was cached" in text
    assert not at.button(key="start").disabled, "Start works again"
    at.button(key="start").click().run()
    poll_until(at, lambda at: "step" in progress_text(at) and not at.error)


def test_a_run_that_a_restart_lost_is_told_on_its_page(open_app, empty_cache):
    import subprocess

    from vae_core.store import journal
    from vae_core.store.cache import config_key

    config = make_config("digits", epochs=3)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a server process that no longer exists
    note = journal.note(empty_cache, config_key(config), config)
    note.rename(note.with_name(note.name.replace(f"-{os.getpid()}-", f"-{gone.pid}-")))
    at = open_app(epochs=3)
    assert any("queued or training when this server restarted" in w.value for w in at.warning)
    assert not at.button(key="start").disabled


def test_a_sweep_waits_in_the_same_line_and_the_panel_lists_it(open_app, empty_cache):
    student = open_app(epochs=LONG, seed=1)
    student.button(key="start").click().run()
    poll_until(student, lambda at: "step" in progress_text(at) and "step 0/" not in progress_text(at))
    lecturer = open_app("sweep", epochs=LONG)
    lecturer.button(key="start_sweep").click().run()
    assert any("This sweep is queued — yours is next" in i.value for i in lecturer.info)
    assert lecturer.button(key="start_sweep").disabled and not lecturer.button(key="stop_sweep").disabled
    sweep = registry().sweep(sweep_configs(make_config("digits", epochs=LONG)))
    assert sweep is not None and sweep.worker_pid is None, "one worker, and it is busy: the sweep waits"
    assert any("1 of 1 worker training, 1 run queued" in c.value for c in lecturer.sidebar.caption)
    panel = " ".join(t.value for t in lecturer.text)
    assert "β sweep over 0, 0.25, 0.5, 1, 2, 4, 8 (7 runs together): data digits" in panel
    registry().get(make_config("digits", epochs=LONG, seed=1)).stop()
    poll_until(lecturer, lambda at: any("training 7 β together" in p.proto.text for p in at.get("progress")))
    os.kill(sweep.worker_pid, signal.SIGKILL)  # its worker dies: the sweep fails, and says so
    poll_until(lecturer, lambda at: bool(at.error))
    text = lecturer.error[0].value
    assert text.startswith("The sweep failed: The training process ended before the run did")
    assert "SIGKILL" in text and text.endswith("Train the missing β again to retry.")
    assert not lecturer.button(key="start_sweep").disabled, "it can be started again"
