"""The lecturer's part of the sidebar when the app serves a room (``vae-lab --access-code``,
``--max-runs-per-session``): the code entry, the training queue's line, the runs panel (every run
training or queued on this server, each with a Stop or Cancel button) and the cache problems
note; and the bound on the files a session keeps uploaded.
The rules themselves live in ``vae_core.store.room``; without an access code the panel and the
note are everyone's. Not a page."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.runtime import Runtime

from vae_core.store.jobs import JobRegistry, SweepJob, TrainingJob
from vae_core.store.room import Room, RoomRules, Seat
from vae_core.views.wording import describe, describe_sweep, queue_text, server_queue_text

UPLOADS_PER_SESSION = 2  # the own-image page's one file, and its replacement while it arrives


@st.cache_resource(show_spinner=False)
def bound_uploads(limit: int = UPLOADS_PER_SESSION) -> bool:
    """Keep at most ``limit`` uploaded files per session, the newest, once per server. Streamlit
    keeps every file a session PUTs until the session ends, however many: its own page deletes
    the one it replaces, but a client that skips that could pile up 2 MB after 2 MB. False where
    there is no such manager to bound (AppTest, or a Streamlit whose internals moved)."""
    try:
        manager = Runtime.instance().uploaded_file_mgr
        storage = manager.file_storage  # MemoryUploadedFileManager's session -> {file id: file}, oldest first
    except (RuntimeError, AttributeError):
        return False
    add = manager.add_file

    def add_file(session_id, file) -> None:
        add(session_id, file)
        for file_id in list(storage.get(session_id, {}))[:-limit]:
            manager.remove_file(session_id, file_id)

    manager.add_file = add_file
    return True


@st.cache_resource(show_spinner=False)
def room() -> Room:
    """The rules this server was started with (one Room per server)."""
    return Room(RoomRules.from_env())


def seat() -> Seat:
    """This browser session's standing: unlocked, and how many runs it started."""
    return st.session_state.setdefault("room_seat", Seat())


def _check_code() -> None:
    text = st.session_state.get("access_code", "")
    st.session_state.access_code = ""  # the code is never kept in the session
    st.session_state.access_problem = room().unlock(seat(), text) if text else ""


def lecturer_ui(reg: JobRegistry, problems: Sequence[str]) -> None:
    """The runs in progress; for the lecturer (everyone, without a code) each with Stop, and what
    the cache skips and why, once."""
    jobs = reg.live_jobs()
    training, queued = reg.pool.counts()
    if jobs:
        st.caption(f":material/hourglass_top: Training queue: {server_queue_text(training, queued, reg.pool.workers)}.")
    if not room().may_manage(seat()):
        with st.expander("Lecturer", icon=":material/key:"):
            st.text_input("The lecturer's code (to start and stop runs)", type="password", key="access_code")
            st.button("Unlock", key="access_unlock", on_click=_check_code)
            if st.session_state.get("access_problem"):
                st.error(st.session_state.access_problem)
        return
    if room().has_code:
        st.caption(":material/lock_open: Lecturer: this session can start and stop runs.")
    if jobs:
        runs_panel_ui(jobs)
    if problems:
        with st.expander(f"Cache problems ({len(problems)})", icon=":material/warning:"):
            st.caption("These entries of the model cache are skipped everywhere:")
            st.text("\n".join(f"• {line}" for line in problems))


def runs_panel_ui(jobs: Sequence[TrainingJob]) -> None:
    """Every run on this server, training or in line, each with its Stop (or Cancel) button."""
    with st.expander(f"Runs on this server ({len(jobs)})", icon=":material/directions_run:"):
        for job in jobs:
            snap = job.snapshot()
            queued = snap.status == "queued"
            where = queue_text(snap.ahead, snap.wait) if queued else f"{snap.status}, {snap.progress:.0%}"
            title = describe_sweep(job.configs) if isinstance(job, SweepJob) else describe(job.config)
            st.text(f"{title}\n{where}")
            label, icon = ("Cancel this run", ":material/cancel:") if queued else ("Stop this run", ":material/stop:")
            st.button(label, key=f"stop_run_{job.key}", on_click=job.stop, icon=icon)
