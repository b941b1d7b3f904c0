"""Serving a room: who may start training runs on a shared server, and how many.

The lecturer starts the server with an access code and/or a limit on runs per session, read from
the environment (``vae-lab --access-code … --max-runs-per-session …`` sets both). Without a code,
every session may start runs, up to the limit. With one, students can view everything and move
every slider, but starting runs, stopping them and the runs panel need the lecturer's code,
entered once per browser session. Wrong codes are limited per session and, in a sliding minute,
per server, so that a room cannot guess a code by trying many. Nothing here knows about
Streamlit: a page keeps a ``Seat`` per session and the server one ``Room``.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

ACCESS_CODE_ENV = "VAE_LAB_ACCESS_CODE"
MAX_RUNS_ENV = "VAE_LAB_MAX_RUNS_PER_SESSION"
TRIES_PER_SESSION = 5  # wrong codes before a session may try no more
TRIES_PER_MINUTE = 20  # wrong codes on the whole server in any minute before every try waits


@dataclass(frozen=True)
class RoomRules:
    access_code: str = ""  # empty: no code needed to start runs
    max_runs_per_session: int | None = None  # None: no limit

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RoomRules:
        """The rules the server was started with; ValueError names a bad value."""
        text = env.get(MAX_RUNS_ENV, "").strip()
        if text and not (text.isdigit() and int(text) >= 1):
            raise ValueError(f"{MAX_RUNS_ENV}={text!r} must be a whole number of at least 1")
        return cls(env.get(ACCESS_CODE_ENV, "").strip(), int(text) if text else None)


@dataclass
class Seat:
    """One browser session's standing in the room."""

    unlocked: bool = False  # entered the lecturer's code
    runs_started: int = 0
    wrong_codes: int = 0


class Room:
    """The server's rules, applied to seats; every method is safe to call from any thread."""

    def __init__(self, rules: RoomRules, clock: Callable[[], float] = time.monotonic):
        self.rules = rules
        self._clock = clock
        self._lock = threading.Lock()
        self._wrong: deque[float] = deque()  # when recent wrong codes were tried, server-wide

    @property
    def has_code(self) -> bool:
        return bool(self.rules.access_code)

    def may_manage(self, seat: Seat) -> bool:
        """May stop runs and see the runs panel (everyone, unless there is a code)."""
        return not self.has_code or seat.unlocked

    def why_not_start(self, seat: Seat) -> str:
        """Empty if this seat may start a run now; else the reason, for the student."""
        if self.has_code and not seat.unlocked:
            return "Starting a run needs the lecturer's code (🔑 in the sidebar); every trained model can be viewed."
        limit = self.rules.max_runs_per_session
        if limit is not None and not seat.unlocked and seat.runs_started >= limit:
            return f"This session has started {seat.runs_started} runs, the most the lecturer allows per session."
        return ""

    def started(self, seat: Seat) -> None:
        seat.runs_started += 1

    def unlock(self, seat: Seat, code: str) -> str:
        """Check a code for this seat; empty on success, else what went wrong (for the person)."""
        if not self.has_code or seat.unlocked:
            seat.unlocked = True
            return ""
        if seat.wrong_codes >= TRIES_PER_SESSION:
            return "Too many wrong codes in this session."
        with self._lock:
            now = self._clock()
            while self._wrong and now - self._wrong[0] > 60:
                self._wrong.popleft()
            if len(self._wrong) >= TRIES_PER_MINUTE:
                return "Too many wrong codes on this server in the last minute; wait a minute and try again."
            if hmac.compare_digest(code.strip().encode(), self.rules.access_code.encode()):
                seat.unlocked = True
                return ""
            self._wrong.append(now)
        seat.wrong_codes += 1
        return "That is not the lecturer's code."
