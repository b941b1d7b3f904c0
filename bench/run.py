"""VAE Latent Lab benchmarks, side by side, on this machine.

    VAE_LAB_DATA=../shared/data python bench/run.py [--skip-app] [--iwae-n 10000]

1. Time to quality: MNIST, MLP 784-400-20, ReLU, Bernoulli cross-entropy on [0, 1] pixels.
   A reference loop written the usual way (DataLoader over a TensorDataset, batch 128,
   shuffled, Adam 1e-3, an .item() per step; pytorch/examples' VAE) trains 10 epochs and sets
   a target test -ELBO; then vae_core's trainer, with its defaults, trains until it reaches it.
2. Training throughput: samples/s and GFLOP/s as a fraction of the fp32 matmul peak measured
   here (the best of several 4096x4096 torch.mm), for the default step (bf16 GEMMs on CPUs
   where measured faster) and for the fp32 step; the bf16 peak is measured the same way.
3. The k = 5000 importance-sampled log p(x) over the MNIST test set: time, peak memory, and
   fraction of the matmul peak (decoder GEMM FLOPs counted).
4. The app: `streamlit run` to the first rendered page, and slider -> decoded image latency in
   a real browser, idle and while a run trains (bench/app_latency.py does the driving).

Prints a table, then one JSON object as the last line. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vae_core.config import RunConfig, make_config
from vae_core.data import Dataset, load_dataset
from vae_core.vae.evaluate import dataset_terms
from vae_core.vae.model import VAE, build_model
from vae_core.vae.objectives import log_px_importance
from vae_core.vae.train import EpochInfo, TrainResult, train

ROOT = Path(__file__).resolve().parents[1]

X, H, Z = 784, 400, 20
TRAIN_FLOPS_PER_SAMPLE = 6 * (X * H + H * 2 * Z + Z * H + H * X)  # forward + backward GEMMs
DECODE_FLOPS_PER_SAMPLE = 2 * (Z * H + H * X)


def matmul_peak_gflops(n: int = 4096, repeats: int = 8, dtype: torch.dtype = torch.float32) -> float:
    a, b, c = (torch.randn(n, n, dtype=dtype) for _ in range(3))
    torch.mm(a, b, out=c)
    best = min(_timed(lambda: torch.mm(a, b, out=c)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class ReferenceVAE(nn.Module):
    """pytorch/examples vae/main.py, as people write it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(X, H), nn.Linear(H, Z), nn.Linear(H, Z)
        self.fc3, self.fc4 = nn.Linear(Z, H), nn.Linear(H, X)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def reference_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy(recon, x, reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def reference_run(x_train: torch.Tensor, x_test: torch.Tensor, epochs: int) -> tuple[float, float]:
    """(seconds, test -ELBO in nats per example)."""
    torch.manual_seed(0)
    model = ReferenceVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x_train), batch_size=128, shuffle=True)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for (x,) in loader:
            optimizer.zero_grad()
            recon, mu, logvar = model(x)
            loss = reference_loss(recon, x, mu, logvar)
            loss.backward()
            loss.item()
            optimizer.step()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        test = 0.0
        for xb in x_test.split(1000):
            recon, mu, logvar = model(xb)
            test += reference_loss(recon, xb, mu, logvar).item() / len(x_test)
    return seconds, test


def ours_to_target(
    data: Dataset, target: float, precision: str = "auto"
) -> tuple[float, list[float], TrainResult, RunConfig]:
    """Train with vae_core's MNIST defaults (the model above, [0, 1] pixels) until the test
    -ELBO reaches ``target``, checked after each epoch; at most the default epochs."""
    config = make_config("mnist", latent_dim=Z, hidden=(H,), binarize=False, precision=precision)
    stop = threading.Event()
    reached: list[float] = []

    def on_epoch(e: EpochInfo) -> None:
        reached.append(-e.test_elbo)
        if -e.test_elbo <= target:
            stop.set()

    model = build_model(config.model, config.train.seed)
    t0 = time.perf_counter()
    result = train(model, data, config.train, on_epoch=on_epoch, stop_event=stop)
    return time.perf_counter() - t0, reached, result, config


def throughput(data: Dataset, config: RunConfig) -> tuple[float, float, str]:
    """samples/s, GFLOP/s and the step's kind for one epoch of training without the test set."""
    one = dataclasses.replace(config.train, epochs=1)
    small_test = data._replace(x_test=data.x_test[:10], y_test=data.y_test[:10])
    kinds: list[str] = []
    seconds = _timed(lambda: kinds.append(train(build_model(config.model, 1), small_test, one).step_kind))
    n = len(data.x_train) // config.train.batch_size * config.train.batch_size
    return n / seconds, n * TRAIN_FLOPS_PER_SAMPLE / seconds / 1e9, kinds[0]


def iwae(model: VAE, x: torch.Tensor, k: int) -> tuple[float, float, float]:
    """(seconds, mean log p(x), peak resident memory in MB of this process so far)."""
    t0 = time.perf_counter()
    value = log_px_importance(model, x, k).mean().item()
    seconds = time.perf_counter() - t0
    return seconds, value, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def app_figures() -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "app_latency.py"), "--json"], capture_output=True, text=True, timeout=900
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        print(out.stdout[-2000:], out.stderr[-2000:], file=sys.stderr)
        return {}
    return json.loads(lines[-1])


@dataclasses.dataclass
class Report:
    """The printed table (name, value text) and the JSON figures, filled part by part."""

    rows: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    figures: dict[str, float | int | str] = dataclasses.field(default_factory=dict)

    def add(self, name: str, text: str, **figures: float | int | str) -> None:
        self.rows.append((name, text))
        self.figures.update(figures)

    def print(self) -> None:
        width = max(len(r[0]) for r in self.rows)
        for name, text in self.rows:
            print(f"{name:{width}s}  {text}")
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in self.figures.items()}))


def peaks_part(report: Report) -> tuple[float, float]:
    peak = matmul_peak_gflops()
    peak_bf16 = matmul_peak_gflops(dtype=torch.bfloat16)
    threads = torch.get_num_threads()
    report.add(
        "fp32 matmul peak (4096^2 torch.mm)", f"{peak:.0f} GFLOP/s on {threads} threads", matmul_peak_gflops=peak
    )
    report.add("bf16 matmul peak (4096^2 torch.mm)", f"{peak_bf16:.0f} GFLOP/s", matmul_peak_gflops_bf16=peak_bf16)
    return peak, peak_bf16


def quality_part(report: Report, data: Dataset, ref_epochs: int) -> tuple[TrainResult, RunConfig]:
    """The reference loop's test -ELBO, then the time our trainer takes to reach it (and in fp32)."""
    ref_s, ref_elbo = reference_run(data.x_train, data.x_test, ref_epochs)
    report.add(f"reference loop, {ref_epochs} epochs", f"{ref_s:.1f} s, test -ELBO {ref_elbo:.2f}")
    report.figures.update(ref_seconds=ref_s, ref_test_neg_elbo=ref_elbo)
    ours_s, reached, result, config = ours_to_target(data, ref_elbo)
    ours_elbo = -dataset_terms(result.model, data.x_test).elbo
    t = config.train
    got_there = "" if ours_elbo <= ref_elbo else f" (NOT reached in {t.epochs} epochs)"
    report.add(
        f"vae_core to that target ({result.step_kind}, batch {t.batch_size}, {t.lr_schedule} lr {t.lr:g})",
        f"{ours_s:.1f} s, {len(reached)} epochs, test -ELBO {ours_elbo:.2f}{got_there}",
        ours_seconds=ours_s,
        time_to_quality_ratio=ours_s / ref_s,
        ours_test_neg_elbo=ours_elbo,
        ours_epochs=len(reached),
    )
    if result.step_kind != "fp32":  # what a CPU without fast bf16 gets: the same run with fp32 GEMMs
        fp32_s, fp32_reached, fp32_result, _ = ours_to_target(data, ref_elbo, precision="fp32")
        fp32_elbo = -dataset_terms(fp32_result.model, data.x_test).elbo
        report.add(
            "vae_core to that target, fp32 step",
            f"{fp32_s:.1f} s, {len(fp32_reached)} epochs, test -ELBO {fp32_elbo:.2f}",
            ours_fp32_seconds=fp32_s,
            time_to_quality_ratio_fp32=fp32_s / ref_s,
            ours_fp32_test_neg_elbo=fp32_elbo,
        )
    return result, config


def throughput_part(report: Report, data: Dataset, config: RunConfig, peak: float, peak_bf16: float) -> None:
    samples_s, gflops, kind = throughput(data, config)
    fp32_config = dataclasses.replace(config, train=dataclasses.replace(config.train, precision="fp32"))
    samples_fp32, gflops_fp32, _ = throughput(data, fp32_config)
    report.add(
        f"training throughput, default step ({kind})",
        f"{samples_s:,.0f} samples/s, {gflops:.0f} GFLOP/s = {gflops / peak:.2f} of the fp32 peak"
        f" ({gflops / peak_bf16:.2f} of the bf16 peak)",
        train_samples_per_second=samples_s,
        train_gflops=gflops,
        train_peak_fraction=gflops / peak,
        train_step=kind,
        train_fraction_of_bf16_peak=gflops / peak_bf16,
    )
    report.add(
        "training throughput, fp32 step",
        f"{samples_fp32:,.0f} samples/s, {gflops_fp32:.0f} GFLOP/s = {gflops_fp32 / peak:.2f} of the fp32 peak",
        train_fp32_samples_per_second=samples_fp32,
        train_fp32_peak_fraction=gflops_fp32 / peak,
    )


def iwae_part(report: Report, model: VAE, x: torch.Tensor, peak: float) -> None:
    seconds, value, peak_mb = iwae(model, x, 5000)
    fraction = len(x) * 5000 * DECODE_FLOPS_PER_SAMPLE / seconds / 1e9 / peak
    report.add(
        f"log p(x), k=5000, {len(x)} test images",
        f"{seconds:.1f} s, {value:.2f} nats, peak RSS {peak_mb:.0f} MB, {fraction:.2f} of peak",
        iwae_k5000_seconds=seconds,
        iwae_log_px=value,
        iwae_peak_mem_mb=peak_mb,
        iwae_peak_fraction=fraction,
    )


def app_part(report: Report) -> None:
    app = app_figures()
    report.figures.update({k: app[k] for k in app if not math.isnan(app[k])})
    for key in ("first_render_seconds", "slider_ms_median", "slider_ms_p95", "slider_ms_median_training"):
        if key in app:
            report.rows.append((key, f"{app[key]:.2f}"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ref-epochs", type=int, default=10)
    p.add_argument("--iwae-n", type=int, default=10_000, help="test images for the k=5000 estimate")
    p.add_argument("--skip-app", action="store_true")
    args = p.parse_args()
    data = load_dataset("mnist")
    report = Report()
    peak, peak_bf16 = peaks_part(report)
    result, config = quality_part(report, data, args.ref_epochs)
    throughput_part(report, data, config, peak, peak_bf16)
    iwae_part(report, result.model, data.x_test[: args.iwae_n], peak)
    if not args.skip_app:
        app_part(report)
    report.print()


if __name__ == "__main__":
    main()
