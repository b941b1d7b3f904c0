"""The hand-written training step against torch.compile of the autograd step, compile time included.

    python bench/compile_step.py [--steps 60] [--modes default,max-autotune-no-cudagraphs]

For the two models a lecture trains most, MNIST's 784-400-20 at batch 512 and digits' 64-256-256-2
at batch 128, each way of running a step (forward, backward and Adam) is timed after a warm-up:
eager autograd, torch.compile of the autograd loss (fp32, and under bf16 autocast) in each mode,
and the hand-written step in fp32 and bf16. A whole run's time is projected as compile time plus
its steps (10 MNIST epochs = 1170 steps; 50 digits epochs = 550 steps); evaluation, identical for
all, is left out. Prints a table, then one JSON object as the last line. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vae_core.config import make_config
from vae_core.vae.fast_step import FastStep
from vae_core.vae.model import build_model
from vae_core.vae.precision import cpu_model

CASES = {"mnist": (512, 10 * (60_000 // 512)), "digits": (128, 50 * (1437 // 128))}  # batch, steps of a run


def autograd_loss(model, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The beta = 1 negative ELBO of the trainer's autograd path, written without torch.distributions
    (which torch.compile would break its graph on): Bernoulli log p(x|z) = -BCE with logits."""
    mu, logvar = model.encoder(x).chunk(2, dim=-1)
    z = mu + (0.5 * logvar).exp() * eps
    recon = -F.binary_cross_entropy_with_logits(model.decoder(z), x, reduction="none").sum(-1)
    kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(-1)
    return -(recon - kl).mean()


def make_step(kind: str, mode: str | None, model, optimizer) -> Callable[[torch.Tensor, torch.Tensor], None]:
    if kind.startswith("hand-written"):
        fast = FastStep(model, "bf16" if kind.endswith("bf16") else "fp32")

        def hand(x: torch.Tensor, eps: torch.Tensor) -> None:
            fast(x, 1.0, eps)
            optimizer.step()

        return hand
    autocast = kind.endswith("bf16 autocast")
    loss_fn = torch.compile(autograd_loss, mode=mode) if mode else autograd_loss

    def auto(x: torch.Tensor, eps: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        cast = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
        with cast:
            loss = loss_fn(model, x, eps)
        loss.backward()
        optimizer.step()

    return auto


def measure(name: str, kind: str, mode: str | None, steps: int) -> dict[str, float]:
    config = make_config(name)
    batch = CASES[name][0]
    torch._dynamo.reset()
    model = build_model(config.model, 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.rand(batch, config.model.x_dim, generator=g), generator=g)
    eps = torch.randn(batch, config.model.latent_dim, generator=g)
    step = make_step(kind, mode, model, optimizer)
    t0 = time.perf_counter()
    step(x, eps)  # compiles, if it compiles
    step(x, eps)  # and the backward's first run
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x, eps)
    ms = 1000 * (time.perf_counter() - t0) / steps
    compile_s = max(0.0, first - 2 * ms / 1000)
    return {"compile_s": compile_s, "ms_per_step": ms, "run_s": compile_s + CASES[name][1] * ms / 1000}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60, help="timed steps per way, after the warm-up")
    p.add_argument("--modes", default="default,max-autotune-no-cudagraphs", help="torch.compile modes")
    args = p.parse_args()
    ways = [("eager autograd fp32", None), ("hand-written fp32", None), ("hand-written bf16", None)]
    for mode in args.modes.split(","):
        ways += [("compiled autograd fp32", mode), ("compiled autograd bf16 autocast", mode)]
    print(f"CPU: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    results = {}
    for name in CASES:
        for kind, mode in ways:
            label = f"{name}: {kind}" + (f" ({mode})" if mode else "")
            try:
                r = measure(name, kind, mode, args.steps)
            except Exception as e:  # a mode that does not compile here is a result too
                print(f"  {label:62s} failed: {type(e).__name__}: {str(e)[:120]}")
                continue
            results[label] = {k: round(v, 4) for k, v in r.items()}
            print(
                f"  {label:62s} {r['ms_per_step']:7.2f} ms/step  compile {r['compile_s']:6.1f} s"
                f"  whole run {r['run_s']:6.1f} s",
                flush=True,
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
