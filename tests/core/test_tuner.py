"""The worker's thread count, chosen by timing its own steps (``vae_core.store.tuner``), against a
simulated clock in which each count steps at a pace the test sets."""

from __future__ import annotations

from vae_core.store.tuner import KEEP_SECONDS, PROBE_SECONDS, SETTLE_STEPS, ThreadTuner, candidates


class Machine:
    """A clock that advances by the step time of the thread count in use."""

    def __init__(self, step_seconds: dict[int, float]):
        self.step_seconds, self.now, self.threads, self.changes = step_seconds, 0.0, 0, []

    def clock(self) -> float:
        return self.now

    def apply(self, n: int) -> None:
        self.threads = n
        self.changes.append(n)

    def train(self, tuner: ThreadTuner, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now += self.step_seconds[tuner.threads]
            tuner.step()


def test_the_candidates_halve_down_to_one():
    assert candidates(8) == [8, 4, 2, 1] and candidates(6) == [6, 3, 1] and candidates(1) == [1]
    assert candidates(0) == [1]


def test_it_trains_on_the_count_that_steps_fastest():
    machine = Machine({2: 0.013, 1: 0.010})  # a browser on the other core: one thread is faster
    tuner = ThreadTuner(2, machine.apply, clock=machine.clock)
    assert tuner.threads == 2 and machine.changes == [], "it starts on the pool's share"
    machine.train(tuner, 2 * PROBE_SECONDS + 0.1)
    assert tuner.threads == 1 and machine.changes == [1]
    assert tuner.rates[1] > tuner.rates[2]
    assert abs(tuner.rates[2] - 1 / 0.013) / (1 / 0.013) < 0.05, "the pace of 2 threads, measured"


def test_it_looks_again_and_follows_a_machine_that_changed():
    machine = Machine({2: 0.013, 1: 0.010})
    tuner = ThreadTuner(2, machine.apply, clock=machine.clock)
    machine.train(tuner, 2 * PROBE_SECONDS + 0.1)
    assert tuner.threads == 1
    machine.step_seconds = {2: 0.006, 1: 0.010}  # the browser went idle: two threads win now
    machine.train(tuner, KEEP_SECONDS + 3 * PROBE_SECONDS)
    assert tuner.threads == 2
    share = machine.changes.count(1) + machine.changes.count(2)
    assert share == len(machine.changes) <= 4, "it changes count only to look and to choose"


def test_a_new_limit_from_the_pool_is_never_exceeded():
    machine = Machine({4: 0.004, 2: 0.006, 1: 0.010})
    tuner = ThreadTuner(4, machine.apply, clock=machine.clock)
    machine.train(tuner, 4 * PROBE_SECONDS)
    assert tuner.threads == 4
    before = len(machine.changes)
    tuner.set_limit(2)  # another run started: half the cores
    assert tuner.threads == 2
    machine.train(tuner, 2 * PROBE_SECONDS + 1.0)  # a look under the new limit, then its choice
    assert max(machine.changes[before:]) == 2 and 1 in machine.changes[before:] and tuner.threads == 2


def test_the_steps_after_a_change_are_not_timed():
    machine = Machine({2: 0.010, 1: 0.010})
    tuner = ThreadTuner(2, machine.apply, clock=machine.clock)
    machine.step_seconds = {2: 1.0, 1: 0.010}  # the first steps on a new team are slow
    for _ in range(SETTLE_STEPS):
        machine.now += 1.0
        tuner.step()
    machine.step_seconds = {2: 0.010, 1: 0.012}
    machine.train(tuner, 2 * PROBE_SECONDS + 0.1)
    assert tuner.threads == 2, "the slow settling steps did not count against 2 threads"


def test_looks_take_at_most_a_sixth_of_the_time_on_a_machine_with_many_cores():
    machine = Machine({16: 0.002, 8: 0.003, 4: 0.005, 2: 0.009, 1: 0.017})
    tuner = ThreadTuner(16, machine.apply, clock=machine.clock)
    looking = 0.0
    end = machine.now + 60.0
    while machine.now < end:
        step = machine.step_seconds[tuner.threads]
        machine.now += step
        looking += step if tuner.rates.keys() != set(candidates(16)) else 0.0
        tuner.step()
    assert tuner.threads == 16
    assert looking / 60.0 < 1 / 6 + 0.02, f"{looking:.1f} s of 60 spent looking"
