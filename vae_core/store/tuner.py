"""How many threads a training worker uses, decided by measuring its own steps as it trains.

The fastest thread count for a run depends on what else the machine does at that moment: alone,
a 10-epoch MNIST run on a 2-core machine took 10.9 s on 2 threads and 15.5 s on 1; with a browser
redrawing its live charts on the same 2 cores, 1 thread won (16.9 s against 19.3–22.2 s on 2),
because every parallel region waits for its slowest thread and a thread that shares its core
with the browser is slow. So a worker tries each count for a short window now and then, and
trains on the one that stepped fastest until the next look.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PROBE_SECONDS = 0.4  # how long each thread count is timed in a look
KEEP_SECONDS = 4.0  # how long the winner trains before the next look (at least 5 looks' time)
SETTLE_STEPS = 2  # steps after a change of count that are not timed (the thread team forms)


def candidates(limit: int) -> list[int]:
    """The counts worth trying under ``limit``: it, its halves, down to 1 (8 -> [8, 4, 2, 1])."""
    out, n = [], max(1, limit)
    while n >= 1 and n not in out:
        out.append(n)
        n //= 2
    return out


class ThreadTuner:
    """Call ``step()`` after every optimizer step; it calls ``apply(n)`` when the count should
    change. ``limit`` is the most threads the run may use (the pool's share of the cores)."""

    def __init__(self, limit: int, apply: Callable[[int], None], clock: Callable[[], float] = time.perf_counter):
        self._apply, self._clock = apply, clock
        self.limit = max(1, limit)
        self.threads = self.limit
        self.rates: dict[int, float] = {}  # steps per second of each count in the current look
        self._todo: list[int] = []
        self._look()

    def set_limit(self, limit: int) -> None:
        """The pool changed this run's share of the cores: look again under the new limit."""
        self.limit = max(1, limit)
        self._look()

    def step(self) -> None:
        now = self._clock()
        if self._settle > 0:
            self._settle -= 1
            self._since, self._steps = now, 0
            return
        self._steps += 1
        elapsed = now - self._since
        if self._todo and elapsed >= PROBE_SECONDS:  # this count's window is over: note its pace
            self.rates[self._todo.pop(0)] = self._steps / elapsed
            if self._todo:
                self._use(self._todo[0])
            else:
                self._use(max(self.rates, key=lambda n: self.rates[n]))
                self._kept = now
        elif not self._todo and now - self._kept >= self._keep:
            self._look()

    def _look(self) -> None:
        self._todo, self.rates = candidates(self.limit), {}
        self._keep = max(KEEP_SECONDS, 5 * PROBE_SECONDS * len(self._todo))  # looks cost at most a sixth
        if len(self._todo) == 1:  # nothing to choose
            self._todo = []
        self._kept = self._clock()
        self._use(self._todo[0] if self._todo else self.limit)

    def _use(self, n: int) -> None:
        if n != self.threads:
            self.threads = n
            self._apply(n)
        self._settle, self._steps, self._since = SETTLE_STEPS, 0, self._clock()
