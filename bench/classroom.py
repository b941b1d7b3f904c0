"""A classroom against one real server, without a browser per student.

Starts the app (``python -m streamlit run app.py``, the project's flags, a fresh model cache on
127.0.0.1) and connects N simulated students to it through Streamlit's own websocket protocol
(``/_stcore/stream``; the ``BackMsg`` / ``ForwardMsg`` protobufs that ship in ``streamlit.proto``),
as the browser's frontend does: a ``rerun_script`` with the page, the query string and the widget
states, then ``ForwardMsg`` deltas until ``script_finished``. Each moving student opens the Latent
space page of a trained 2-D digits model and moves z₁ every few seconds (a fragment rerun, as the
browser sends it); ``--runs`` students open the Train page on settings of their own and press
Start (one more starts the first student's settings again: it must join that run, not train it
twice), then poll as the browser would (the server's ``auto_rerun``); ``--idle`` more students
only open a page and stay connected.

Measured at the client side of the socket: the slider's round trip (send to ``script_finished``)
and the page-open time; from /proc: the server's RSS (now and peak) and CPU; from the server's log,
which worker trained which config (``duplicate_trainings`` counts configs trained more than once);
from the cache folder: the runs completed. Every loop is bounded in count and in time, and the
server (with its workers) is stopped by PID at the end.

    python bench/classroom.py --students 30 --runs 10 --json
    python bench/classroom.py --students 30 --idle 100 --runs 0 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from app_pages.launch import command  # noqa: E402
from vae_core import get_or_train, make_config  # noqa: E402
from vae_core.store.cache import usable  # noqa: E402

DONE = {ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY}
FRAGMENT_DONE = {ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
LATENT_QUERY = "dataset=digits&latent_dim=2&beta=1"
BETAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
TRAINED = re.compile(r"worker \d+ trains ([0-9a-f]{20})\b")  # a run's config key (not a sweep's line)


@dataclass
class Tally:
    slider_ms: list[float] = field(default_factory=list)
    page_open_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    queued_seen: int = 0  # the most runs the sidebar said were queued at once
    first_open_ms: float = 0.0  # the lecturer's page, before the class: a fresh server's first script run


class Student:
    """One browser session, spoken to through the websocket."""

    def __init__(self, port: int, page: str, query: str, tally: Tally):
        self.port, self.page, self.query, self.tally = port, page, query, tally
        self.widgets: dict[str, tuple[str, str]] = {}  # key -> (widget id, fragment id)
        self.finished: asyncio.Queue[int] = asyncio.Queue()
        self.polls: dict[str, asyncio.Task] = {}
        self.z1: float | None = None  # where the latent pad, which decodes in the browser, puts z
        self.ws = None

    async def open(self, timeout: float) -> None:
        url = f"ws://127.0.0.1:{self.port}/_stcore/stream"
        self.ws = await connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=timeout)
        self.reader = asyncio.create_task(self._read())
        t0 = time.perf_counter()
        await self.rerun(timeout=timeout)
        self.tally.page_open_ms.append((time.perf_counter() - t0) * 1000)

    async def rerun(self, widgets=(), fragment: str = "", timeout: float = 30.0) -> float:
        """Send a rerun (of a fragment, if given); the milliseconds until the server says it ended."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_name, state.fragment_id = self.query, self.page, fragment
        for widget in widgets:
            state.widget_states.widgets.append(widget)
        while not self.finished.empty():
            self.finished.get_nowait()
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        wanted = FRAGMENT_DONE if fragment else DONE
        while True:
            status = await asyncio.wait_for(self.finished.get(), timeout)
            if status in wanted:
                return (time.perf_counter() - t0) * 1000

    async def move_z1(self, value: float) -> None:
        widget_id, fragment = self.widgets["z1"]
        msg = BackMsg().rerun_script.widget_states.widgets.add()
        msg.id = widget_id
        msg.double_array_value.data.append(value)
        self.tally.slider_ms.append(await self.rerun([msg], fragment))
        if self.z1 is None or abs(self.z1 - value) > 1e-6:
            self.tally.errors.append(f"slider: the pad shows z1 = {self.z1}, not {value:+.2f}"[:200])

    async def press(self, key: str) -> None:
        widget = BackMsg().rerun_script.widget_states.widgets.add()
        widget.id, widget.trigger_value = self.widgets[key][0], True
        await self.rerun([widget])

    async def close(self) -> None:
        for task in self.polls.values():
            task.cancel()
        if self.ws is not None:
            await self.ws.close()
            self.reader.cancel()

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                self._handle(ForwardMsg.FromString(data))
        except Exception as e:  # a dropped connection is an error of the run
            self.tally.errors.append(f"socket: {type(e).__name__}: {e}"[:200])

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "script_finished":
            self.finished.put_nowait(msg.script_finished)
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._element(msg.delta.new_element, msg.delta.fragment_id)
        elif kind == "auto_rerun":  # a fragment with run_every: the browser reruns it on a timer
            fid, every = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fid not in self.polls:
                self.polls[fid] = asyncio.create_task(self._poll(fid, every))
        elif kind == "stop_auto_rerun":
            for task in self.polls.values():
                task.cancel()
            self.polls.clear()

    def _element(self, element, fragment: str) -> None:
        which = element.WhichOneof("type")
        if which == "exception":
            self.tally.errors.append(f"page: {element.exception.type}: {element.exception.message}"[:200])
        elif which in ("slider", "button"):
            widget_id = getattr(element, which).id
            self.widgets[widget_id.rsplit("-", 1)[-1]] = (widget_id, fragment)
        elif which == "bidi_component" and element.bidi_component.json:
            with contextlib.suppress(ValueError, TypeError, KeyError, IndexError):
                self.z1 = float(json.loads(element.bidi_component.json)["z"][0])  # the pad's point
        elif which == "markdown":
            found = re.search(r"(\d+) runs? queued", element.markdown.body)
            if found:
                self.tally.queued_seen = max(self.tally.queued_seen, int(found.group(1)))

    async def _poll(self, fragment: str, every: float) -> None:
        for _ in range(10_000):  # bounded: a poll a second for hours at most
            await asyncio.sleep(every)
            msg = BackMsg()
            msg.rerun_script.query_string, msg.rerun_script.page_name = self.query, self.page
            msg.rerun_script.fragment_id, msg.rerun_script.is_auto_rerun = fragment, True
            await self.ws.send(msg.SerializeToString())


async def mover(student: Student, args: argparse.Namespace, end: float, rng: random.Random) -> None:
    moves = 0
    while time.monotonic() < end and moves < args.max_moves:
        await asyncio.sleep(args.interval * rng.uniform(0.5, 1.5))
        try:
            await student.move_z1(round(rng.uniform(-3, 3), 1))
        except (TimeoutError, KeyError, Exception) as e:
            student.tally.errors.append(f"slider: {type(e).__name__}: {e}"[:200])
        moves += 1


def train_query(i: int, epochs: int) -> str:
    """The settings of the i-th run: β stops, then latent dimensions, all different."""
    beta, dim = BETAS[i % len(BETAS)], 2 + i // len(BETAS)
    return f"dataset=digits&latent_dim={dim}&beta={beta:g}&epochs={epochs}&seed={7 + i}"


def config_of(query: str):
    values = dict(part.split("=") for part in query.split("&"))
    return make_config(
        "digits",
        latent_dim=int(values["latent_dim"]),
        beta=float(values["beta"]),
        epochs=int(values["epochs"]),
        seed=int(values["seed"]),
    )


async def classroom(port: int, args: argparse.Namespace, tally: Tally) -> list[str]:
    """Connect everyone, move sliders and start runs for ``args.seconds``; the runs' queries."""
    rng = random.Random(0)
    movers = [Student(port, "latent", LATENT_QUERY, tally) for _ in range(max(0, args.students - args.runs))]
    idle = [Student(port, "latent", LATENT_QUERY, tally) for _ in range(args.idle)]
    queries = [train_query(i, args.epochs) for i in range(args.runs)]
    trainers = [Student(port, "", q, tally) for q in queries + queries[:1]]  # the last one joins the first run
    everyone = idle + movers + trainers
    lecturer = Student(port, "latent", LATENT_QUERY, Tally())  # opens the page first: the server's imports
    t0 = time.perf_counter()
    await lecturer.open(args.timeout)
    tally.first_open_ms = (time.perf_counter() - t0) * 1000
    await lecturer.close()
    for batch in range(0, len(everyone), args.connect_batch):  # a class arriving, a few at a time
        group = everyone[batch : batch + args.connect_batch]
        results = await asyncio.gather(*(s.open(args.timeout) for s in group), return_exceptions=True)
        tally.errors += [f"open: {type(r).__name__}: {r}"[:200] for r in results if isinstance(r, BaseException)]
    end = time.monotonic() + args.seconds
    tasks = [asyncio.create_task(mover(s, args, end, rng)) for s in movers if "z1" in s.widgets]
    for student in trainers:
        await asyncio.sleep(args.seconds / 4 / max(1, len(trainers)))  # starts spread over the first quarter
        try:
            await student.press("start")
        except Exception as e:
            tally.errors.append(f"start: {type(e).__name__}: {e}"[:200])
    await asyncio.gather(*tasks)
    await asyncio.gather(*(s.close() for s in everyone), return_exceptions=True)
    return queries


def start_server(port: int, cache: Path, log: Path, workers: int | None) -> subprocess.Popen:
    env = {**os.environ, "VAE_LAB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    if workers:
        env["VAE_LAB_WORKERS"] = str(workers)
    cmd = [*command(["--port", str(port)]), "--server.fileWatcherType=none"]
    server = subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(600):  # at most 60 s
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                if r.read() == b"ok":
                    return server
        except OSError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"the server did not start; see {log}")


def stop_server(server: subprocess.Popen) -> None:
    """The server by its PID, then its process group (its forkserver and workers), by that id."""
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)


def proc_figures(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {
        k: int(v.split()[0])
        for k, v in (line.split(":", 1) for line in status.splitlines())
        if v.strip().endswith("kB")
    }
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return {"rss_mb": kb["VmRSS"] / 1024, "peak_mb": kb["VmHWM"] / 1024, "cpu_s": cpu}


def wait_for_runs(configs, cache: Path, seconds: float) -> int:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not all(usable(c, cache) for c in configs):
        time.sleep(0.5)
    return sum(usable(c, cache) for c in configs)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else (values[0] if values else float("nan"))


def run(args: argparse.Namespace) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = Path(tempfile.mkdtemp(prefix="classroom-"))
    cache, log = work / "models", work / "server.log"
    get_or_train(make_config("digits", latent_dim=2, beta=1.0), cache)  # the model the movers look at
    server = start_server(port, cache, log, args.workers)
    tally, t0, mine = Tally(), time.perf_counter(), os.times()
    try:
        before = proc_figures(server.pid)
        queries = asyncio.run(classroom(port, args, tally))
        configs = [config_of(q) for q in queries]
        completed = wait_for_runs(configs, cache, args.run_wait)
        after = proc_figures(server.pid)
    finally:
        stop_server(server)
    wall = time.perf_counter() - t0
    client_cpu = sum(os.times()[:2]) - sum(mine[:2])  # the simulated students themselves, all in this process
    trained = TRAINED.findall(log.read_text())
    return {
        "students": args.students,
        "idle": args.idle,
        "slider_ms_median": round(statistics.median(tally.slider_ms), 1) if tally.slider_ms else None,
        "slider_ms_p95": round(pct(tally.slider_ms, 95), 1) if tally.slider_ms else None,
        "slider_moves": len(tally.slider_ms),
        "page_open_ms_median": round(statistics.median(tally.page_open_ms), 1) if tally.page_open_ms else None,
        "page_open_ms_p95": round(pct(tally.page_open_ms, 95), 1) if tally.page_open_ms else None,
        "first_page_open_ms": round(tally.first_open_ms, 1),
        "server_rss_mb": round(after["rss_mb"], 1),
        "server_peak_rss_mb": round(after["peak_mb"], 1),
        "server_cpu_percent": round(100 * (after["cpu_s"] - before["cpu_s"]) / wall, 1),
        "client_cpu_percent": round(100 * client_cpu / wall, 1),
        "load_average": round(os.getloadavg()[0], 2),
        "runs_started": len(configs),
        "runs_queued_max": tally.queued_seen,
        "runs_completed": completed,
        "trainings": len(trained),
        "duplicate_trainings": len(trained) - len(set(trained)),
        "errors": len(tally.errors),
        "error_examples": tally.errors[:5],
        "wall_seconds": round(wall, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=10, help="students in the class (those who train among them)")
    p.add_argument("--runs", type=int, default=3, help="students who each start a run of their own settings")
    p.add_argument("--idle", type=int, default=0, help="more students who only open a page and stay connected")
    p.add_argument("--seconds", type=float, default=60.0, help="how long the sliders move")
    p.add_argument("--interval", type=float, default=3.0, help="seconds between one student's slider moves (mean)")
    p.add_argument("--max-moves", type=int, default=100, help="slider moves per student at most")
    p.add_argument("--epochs", type=int, default=50, help="epochs of each started run (digits)")
    p.add_argument("--workers", type=int, help="the server's training workers (default: its own)")
    p.add_argument("--run-wait", type=float, default=300.0, help="seconds to wait for the runs after the sliders")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a page open or a rerun may take")
    p.add_argument("--connect-batch", type=int, default=10, help="students who open the page at the same moment")
    p.add_argument("--json", action="store_true", help="end with one JSON line")
    args = p.parse_args()
    figures = run(args)
    for key, value in figures.items():
        if key != "error_examples":
            print(f"{key:24s} {value}")
    for example in figures["error_examples"]:
        print(f"  error: {example}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
