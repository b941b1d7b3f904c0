"""What the command line prints: progress bars and lines on stderr, the evaluation table.

Progress goes to stderr (a live bar only on a terminal), results to stdout (``cli.py``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from vae_core.config import DATASETS, RunConfig
from vae_core.store import zoo
from vae_core.vae.evaluate import Evaluation
from vae_core.vae.train import EpochInfo, StepInfo


def step_progress() -> Any:
    last = [0.0]

    def on_step(s: StepInfo) -> None:
        now = time.monotonic()
        if sys.stderr.isatty() and (now - last[0] > 0.2 or s.step == s.total_steps):
            last[0] = now
            width = 30
            done = int(width * s.step / s.total_steps)
            bar = "#" * done + "." * (width - done)
            print(f"\r  [{bar}] step {s.step}/{s.total_steps}  ELBO {s.elbo:9.2f}", end="", file=sys.stderr)

    return on_step


def epoch_line(e: EpochInfo) -> None:
    end = "\n" if not sys.stderr.isatty() else "\x1b[K\n"
    print(
        f"\repoch {e.epoch:3d}/{e.total_epochs}  train ELBO {e.train_elbo:9.2f}  test ELBO {e.test_elbo:9.2f}  "
        f"(recon {e.test_recon:9.2f}, KL {e.test_kl:6.2f})  active {e.active_units}  {e.seconds:6.1f} s",
        end=end,
        file=sys.stderr,
    )


def download_progress() -> Any:
    def progress(name: str, done: int, total: int | None) -> None:
        if total and (done == total or sys.stderr.isatty()):
            print(
                f"\r  downloading {name}: {done / 1e6:.1f} / {total / 1e6:.1f} MB",
                end="\n" if done == total else "",
                file=sys.stderr,
            )

    return progress


def evaluation_table(config: RunConfig, ev: Evaluation, seconds: float) -> str:
    rows = [
        f"{DATASETS[config.dataset].title}, latent dim {config.model.latent_dim}, beta {config.train.beta:g}: "
        f"{ev.n} test examples, nats per example",
        f"  {'reconstruction E_q[log p(x|z)]':34s} {ev.elbo.recon:10.3f}",
        f"  {'KL(q(z|x) || p(z))':34s} {ev.elbo.kl:10.3f}",
        f"  {'ELBO (analytic KL)':34s} {ev.elbo.elbo:10.3f}",
        f"  {'ELBO (Monte-Carlo KL)':34s} {ev.elbo_mc.elbo:10.3f}",
    ]
    for k, value in ev.importance.items():
        rows.append(f"  {f'log p(x), importance k={k}':34s} {value:10.3f}   {ev.importance_seconds[k]:7.2f} s")
    for k, value in ev.prior_sampling.items():
        rows.append(f"  {f'log p(x), naive prior k={k}':34s} {value:10.3f}")
    best = max(ev.importance.values()) if ev.importance else None
    if ev.quadrature is not None:
        rows.append(
            f"  {'log p(x), quadrature (grid)':34s} {ev.quadrature:10.3f}   {ev.quadrature_seconds:7.2f} s"
            f"   (grid vs half grid: {ev.quadrature_error:.1e})"
        )
        best = ev.quadrature
    if best is not None:
        rows.append(f"  {'gap log p(x) - ELBO ~ KL(q || p(z|x))':34s} {best - ev.elbo.elbo:10.3f}")
    rows.append(f"  total {seconds:.1f} s")
    return "\n".join(rows)


def zoo_line(c: zoo.ZooCell) -> None:
    width = len(str(c.total))
    head = f"[{c.index:{width}d}/{c.total}] β {c.beta:<5g} latent {c.latent_dim:<3d}"
    if c.status == "cached":
        print(f"{head} cached      ELBO {c.test_elbo:9.2f}", file=sys.stderr)
        return
    elbo = f"ELBO {c.test_elbo:9.2f}" if c.test_elbo is not None else f"{c.status:>14s}"
    eta = f"ETA {duration(c.eta)}" if c.eta is not None else ""
    print(
        f"{head} {'trained' if c.status == 'trained' else c.status:11s} {elbo}  {c.seconds:6.1f} s  {eta}",
        file=sys.stderr,
    )


def duration(seconds: float) -> str:
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes}m{s:02d}s" if minutes else f"{s}s"
