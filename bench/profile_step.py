"""Where one training step's time goes: torch.profiler over the trainer's step, by kind of op.

    python bench/profile_step.py [--batch 512] [--precision auto|fp32|bf16] [--autograd]

The classic MNIST model (784-400-20) on random [0, 1] pixels (the step's cost does not depend
on the data). Prints the step time, and each kind's share: GEMMs, casts between fp32 and
bf16, elementwise work, Adam, and the rest (dispatch and Python).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from vae_core.config import make_config
from vae_core.vae.fast_step import FastStep
from vae_core.vae.model import build_model
from vae_core.vae.objectives import elbo_terms

KINDS = {
    "aten::mm": "GEMM",
    "aten::addmm": "GEMM",
    "aten::copy_": "casts and copies",
    "aten::_fused_adam_": "Adam (fused)",
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--autograd", action="store_true", help="profile the autograd step instead")
    p.add_argument("--steps", type=int, default=100)
    args = p.parse_args()
    config = make_config("mnist", latent_dim=20, hidden=(400,), binarize=False, precision=args.precision)
    model = build_model(config.model, 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    fast = FastStep(model, args.precision)
    g = torch.Generator().manual_seed(0)
    data = torch.rand(20 * args.batch, 784, generator=g)

    def step(i: int) -> None:
        x = data[(i % 20) * args.batch : (i % 20 + 1) * args.batch]
        if args.autograd:
            loss = elbo_terms(model, x, generator=g).loss()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            values = loss.detach()
        else:
            values = fast(x, 1.0, torch.randn(args.batch, 20, generator=g))
        optimizer.step()
        values.tolist()

    for i in range(30):
        step(i)
    t0 = time.perf_counter()
    for i in range(args.steps):
        step(i)
    ms = (time.perf_counter() - t0) / args.steps * 1e3
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(args.steps):
            step(i)
    by_kind: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if event.key.startswith("aten::"):
            by_kind[KINDS.get(event.key, "elementwise and other ops")] += event.self_cpu_time_total
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    by_kind["dispatch, Python, profiler"] = total - sum(by_kind.values())
    kind = "autograd" if args.autograd else fast.precision
    print(f"batch {args.batch}, {kind} step: {ms:.2f} ms per step unprofiled, {args.batch / ms * 1e3:,.0f} samples/s")
    for name, us in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {name:28s} {us / total:6.1%}  {us / args.steps / 1e3:6.2f} ms/step (profiled)")


if __name__ == "__main__":
    main()
