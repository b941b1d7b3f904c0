"""Serving a room: the access code, the limit on runs per session, and guessing the code."""

from __future__ import annotations

import pytest

from vae_core.store.room import (
    ACCESS_CODE_ENV,
    MAX_RUNS_ENV,
    TRIES_PER_MINUTE,
    TRIES_PER_SESSION,
    Room,
    RoomRules,
    Seat,
)


def test_without_rules_everyone_starts_and_manages_runs():
    room, seat = Room(RoomRules()), Seat()
    assert room.why_not_start(seat) == "" and room.may_manage(seat)
    for _ in range(50):
        room.started(seat)
    assert room.why_not_start(seat) == ""


def test_with_a_code_students_view_and_the_lecturer_starts_runs():
    room, student, lecturer = Room(RoomRules(access_code="blue-heron-42")), Seat(), Seat()
    assert "lecturer's code" in room.why_not_start(student) and not room.may_manage(student)
    assert room.unlock(student, "guess") == "That is not the lecturer's code."
    assert room.unlock(lecturer, " blue-heron-42 ") == ""
    assert room.why_not_start(lecturer) == "" and room.may_manage(lecturer)
    assert not student.unlocked


def test_a_session_may_start_at_most_the_limit_and_the_lecturer_is_exempt():
    room = Room(RoomRules(access_code="code", max_runs_per_session=2))
    student, lecturer = Seat(unlocked=False), Seat()
    room_without_code = Room(RoomRules(max_runs_per_session=2))
    for _ in range(2):
        assert room_without_code.why_not_start(student) == ""
        room_without_code.started(student)
    assert "started 2 runs, the most" in room_without_code.why_not_start(student)
    room.unlock(lecturer, "code")
    for _ in range(5):
        room.started(lecturer)
    assert room.why_not_start(lecturer) == ""


def test_guessing_is_limited_per_session_and_per_server():
    now = [0.0]
    room = Room(RoomRules(access_code="right"), clock=lambda: now[0])
    seat = Seat()
    for _ in range(TRIES_PER_SESSION):
        room.unlock(seat, "wrong")
    assert room.unlock(seat, "right") == "Too many wrong codes in this session." and not seat.unlocked
    for _ in range(TRIES_PER_MINUTE):  # many fresh sessions, one wrong try each
        room.unlock(Seat(), "wrong")
    assert "wait a minute" in room.unlock(Seat(), "right")
    now[0] = 61.0
    assert room.unlock(Seat(), "right") == ""


def test_the_rules_come_from_the_environment():
    rules = RoomRules.from_env({ACCESS_CODE_ENV: "abc", MAX_RUNS_ENV: "3"})
    assert rules == RoomRules("abc", 3)
    assert RoomRules.from_env({}) == RoomRules()
    with pytest.raises(ValueError, match="whole number of at least 1"):
        RoomRules.from_env({MAX_RUNS_ENV: "0"})
