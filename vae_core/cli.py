"""``python -m vae_core``: train, evaluate, list datasets.

    python -m vae_core train --dataset mnist --latent-dim 2 --epochs 10 --out mnist2d.pt
    python -m vae_core evaluate --model mnist2d.pt --k 1,10,100,1000,5000
    python -m vae_core datasets

Progress goes to stderr, results to stdout (one JSON object with ``--json``). Ctrl-C during
training stops it cleanly at the next step and caches nothing; a second Ctrl-C aborts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

import vae_core.cli_text as cli_text
from vae_core.config import DATASETS, RunConfig, make_config
from vae_core.data.datasets import Dataset, available, load_dataset
from vae_core.data.download import MIRRORS, DatasetError, dataset_dir
from vae_core.store import cache, zoo
from vae_core.vae.binarize import fixed_binarization
from vae_core.vae.evaluate import evaluate
from vae_core.vae.fast_step import step_kind
from vae_core.vae.precision import MARGIN, cpu_flags, cpu_model, shape_class

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (DatasetError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vae_core", description="VAE Latent Lab: the core's command line.")
    sub = p.add_subparsers(required=True, metavar="COMMAND")
    t = sub.add_parser("train", help="train a model (or take it from the cache)")
    _add_config_flags(t, required=True)
    t.add_argument("--out", type=Path, help="also write one self-contained model file here")
    t.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    t.set_defaults(func=_train)
    e = sub.add_parser("evaluate", help="test-set ELBO and importance-sampled log p(x)")
    e.add_argument("--model", type=Path, help="a model file written by train --out")
    _add_config_flags(e, required=False)
    e.add_argument(
        "--k",
        type=_int_list,
        default=[1, 10, 100, 1000, 5000],
        help="importance samples (default 1,10,100,1000,5000)",
    )
    e.add_argument("--n-test", type=int, help="use the first N test examples (default: all)")
    e.add_argument("--prior-k", type=int, default=5000, help="draws for the naive prior estimate (0: skip)")
    e.add_argument("--no-quadrature", action="store_true", help="skip the grid value for 1-2-D latents")
    e.add_argument("--json", action="store_true", help="print the results as JSON")
    e.set_defaults(func=_evaluate)
    d = sub.add_parser("datasets", help="which datasets are available, and from where")
    d.add_argument("--data-root", type=Path, help="folder holding mnist/, fashion-mnist/, ... (default $VAE_LAB_DATA)")
    d.set_defaults(func=_datasets)
    _add_zoo(sub)
    doc = sub.add_parser("doctor", help="this machine: CPU, torch, and whether training GEMMs run in bf16 or fp32")
    doc.add_argument("--cache-root", type=Path, help="model cache folder, beside which decisions are kept")
    doc.set_defaults(func=_doctor)
    return p


def _add_zoo(sub: argparse._SubParsersAction) -> None:
    z = sub.add_parser("zoo", help="train the β × latent-dimension grid into the cache (skips cached ones)")
    z.add_argument("--dataset", choices=list(DATASETS), required=True, help="dataset name")
    z.add_argument("--betas", type=_float_list, default=list(zoo.ZOO_BETAS), help="β values (default 0,0.25,...,8)")
    z.add_argument("--latent-dims", type=_int_list, default=list(zoo.ZOO_LATENT_DIMS), help="default 1,2,3,5,10,20")
    z.add_argument("--data-root", type=Path, help="dataset folder (default $VAE_LAB_DATA or a user cache)")
    z.add_argument("--cache-root", type=Path, help="model cache folder (default $VAE_LAB_CACHE or a user cache)")
    z.add_argument("--offline", action="store_true", help="never download; fail with what to fetch by hand")
    z.add_argument("--threads", type=int, default=1, help="torch threads (default 1: small MLPs gain little)")
    z.add_argument("--workers", type=int, help="train this many models at once, each in a worker process")
    z.add_argument("--ray", metavar="ADDRESS", help="train on this Ray cluster (the cache folder must be shared)")
    z.add_argument("--json", action="store_true", help="print a summary of every cell as JSON")
    z.set_defaults(func=_zoo)


def _number_list(kind: type, lowest: float, rule: str) -> Callable[[str], list]:
    """An argparse type for "1,10,100": numbers of ``kind`` separated by commas, none below ``lowest``."""

    def parse(text: str) -> list:
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
        if not values or min(values) < lowest:
            raise argparse.ArgumentTypeError(rule)
        return values

    return parse


_int_list = _number_list(int, 1, "every k must be a positive whole number")
_float_list = _number_list(float, 0, "every value must be a number >= 0")


def _add_config_flags(p: argparse.ArgumentParser, required: bool) -> None:
    """Unset flags take the dataset's defaults (``config.DATASET_DEFAULTS``)."""
    p.add_argument("--dataset", choices=list(DATASETS), required=required, help="dataset name")
    p.add_argument("--latent-dim", type=int, help="latent dimensions (default 2)")
    p.add_argument("--beta", type=float, help="KL weight (default 1)")
    p.add_argument("--epochs", type=int, help="epochs (default per dataset)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default per dataset)")
    p.add_argument("--batch-size", type=int, help="minibatch size (default per dataset)")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], help="learning-rate schedule (default per dataset)")
    p.add_argument("--lr-warmup", type=float, help="epochs of linear learning-rate warm-up (default per dataset)")
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        help="GEMM arithmetic of the training step (default auto: bf16 where measured faster here; see doctor)",
    )
    p.add_argument("--hidden", type=_int_list, help="hidden widths, e.g. 400 or 512,256 (default per dataset)")
    p.add_argument("--activation", choices=["relu", "tanh"], help="between hidden layers (default relu)")
    p.add_argument(
        "--kl-estimator",
        "--kl",
        dest="kl",
        choices=["analytic", "mc"],
        help="KL estimator in training (default analytic)",
    )
    p.add_argument("--warmup", type=float, help="KL warm-up epochs (default 0)")
    p.add_argument("--data-root", type=Path, help="dataset folder (default $VAE_LAB_DATA or a user cache)")
    p.add_argument("--cache-root", type=Path, help="model cache folder (default $VAE_LAB_CACHE or a user cache)")
    p.add_argument("--offline", action="store_true", help="never download; fail with what to fetch by hand")


_FLAG_FIELDS = {
    "latent_dim": "latent_dim",
    "beta": "beta",
    "epochs": "epochs",
    "seed": "seed",
    "lr": "lr",
    "batch_size": "batch_size",
    "hidden": "hidden",
    "kl": "kl_estimator",
    "warmup": "warmup_epochs",
    "lr_schedule": "lr_schedule",
    "lr_warmup": "lr_warmup_epochs",
    "precision": "precision",
    "activation": "activation",
}


def _config_from(args: argparse.Namespace) -> RunConfig:
    overrides: dict[str, Any] = {"latent_dim": 2}
    overrides.update(
        {field: getattr(args, flag) for flag, field in _FLAG_FIELDS.items() if getattr(args, flag) is not None}
    )
    return make_config(args.dataset, **overrides)


def _train(args: argparse.Namespace) -> int:
    config = _config_from(args)
    trained = _get_or_train(config, args)
    if trained.metrics.get("status") != "completed":
        print(f"Not finished: {trained.metrics['reason']}. Nothing was cached.", file=sys.stderr)
        return EXIT_INTERRUPTED if trained.metrics["status"] == "stopped" else EXIT_ERROR
    if args.out:
        cache.save_model(trained, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    where = f"cached in {trained.path}" if trained.path else f"not cached: {trained.save_error}"
    if args.json:
        cached = str(trained.path) if trained.path else None
        print(json.dumps({"config": config.to_dict(), "metrics": trained.metrics, "cache": cached}))
    else:
        m = trained.metrics
        print(
            f"test ELBO {m['test_elbo']:.2f} nats (reconstruction {m['test_recon']:.2f}, KL {m['test_kl']:.2f}), "
            f"{m['active_units']}/{config.model.latent_dim} active units; {where}"
        )
    return 0


def _get_or_train(config: RunConfig, args: argparse.Namespace) -> cache.TrainedModel:
    """Train with progress on stderr; the first Ctrl-C stops cleanly, the second aborts."""
    cached = cache.lookup(config, args.cache_root)
    if cached is not None:
        print(f"from the cache: {cached.path}", file=sys.stderr)
        return cached
    data = _load(config.dataset, args)
    t = config.train
    chooser = cache.machine_chooser(args.cache_root)
    print(
        f"training {config.dataset}, latent {config.model.latent_dim}, beta {t.beta}; "
        f"batch {t.batch_size}, {t.lr_schedule} lr {t.lr:g}, {step_kind(config.model, t, chooser)} step ...",
        file=sys.stderr,
    )
    with _stop_on_sigint() as stop:
        return cache.get_or_train(
            config,
            args.cache_root,
            data=data,
            on_step=cli_text.step_progress(),
            on_epoch=cli_text.epoch_line,
            stop_event=stop,
        )


@contextlib.contextmanager
def _stop_on_sigint() -> Iterator[threading.Event]:
    """An event that the first Ctrl-C sets (the run stops after its step); a second one aborts."""
    stop = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        print("\nstopping after this step (Ctrl-C again to abort) ...", file=sys.stderr)
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _load(name: str, args: argparse.Namespace) -> Dataset:
    return load_dataset(name, args.data_root, download_missing=not args.offline, progress=cli_text.download_progress())


def _evaluate(args: argparse.Namespace) -> int:
    if args.model is not None:
        trained = cache.load_model(args.model)
    elif args.dataset is not None:
        trained = _get_or_train(_config_from(args), args)
        if trained.metrics["status"] != "completed":
            print(f"Not finished: {trained.metrics['reason']}. Nothing was cached.", file=sys.stderr)
            return EXIT_INTERRUPTED
    else:
        raise ValueError("give --model FILE, or --dataset NAME with the training flags")
    config = trained.config
    data = _load(config.dataset, args)
    x = fixed_binarization(data.x_test) if config.train.binarize else data.x_test
    x = x[: args.n_test] if args.n_test else x
    torch.set_grad_enabled(False)
    t0 = time.perf_counter()
    ev = evaluate(
        trained.model,
        x,
        args.k,
        prior_k=args.prior_k or None,
        quadrature=not args.no_quadrature,
        on_progress=lambda what: print(f"  {what} ...", file=sys.stderr),
    )
    seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"config": config.to_dict(), "evaluation": ev.as_dict(), "seconds": seconds}))
    else:
        print(cli_text.evaluation_table(config, ev, seconds))
    return 0


def _datasets(args: argparse.Namespace) -> int:
    for name, info in DATASETS.items():
        if info.kind == "toy2d":
            where = "generated (seeded)"
        elif info.kind == "builtin":
            where = "built in (scikit-learn)"
        elif available(name, args.data_root):
            where = f"available in {dataset_dir(name, args.data_root)}"
        else:
            how = "train downloads them" if MIRRORS[name] else "no public mirror of these files"
            where = f"missing: put its files in {dataset_dir(name, args.data_root)} ({how})"
        print(f"{name:16s} {info.title:32s} {where}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    """The CPU, and for each dataset's default model the measured GEMM times and the decision,
    on one thread (the app's training thread) and on torch's default thread count."""
    chooser = cache.machine_chooser(args.cache_root)
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores; {', '.join(cpu_flags()) or 'no bf16 or AVX-512 flags'})")
    print(f"torch {torch.__version__}; precision decisions kept in {chooser.path}")
    print(f"auto = bf16 where a training step runs in at most 1/{MARGIN:g} of its fp32 time here")
    threads = sorted({1, torch.get_num_threads()})
    for n in threads:
        torch.set_num_threads(n)
        print(f"{n} thread{'s' * (n > 1)}:")
        for name in ("digits", "mnist", "two-moons"):
            config = make_config(name)
            timing = chooser.timing(config.model, config.train.batch_size)
            shape = shape_class(config.model, config.train.batch_size)
            print(
                f"  {name:10s} {shape:36s} fp32 {timing.fp32_ms:7.2f} ms  bf16 {timing.bf16_ms:7.2f} ms"
                f"  -> {timing.choice}"
            )
    return 0


def _zoo(args: argparse.Namespace) -> int:
    """One line per cell; the first Ctrl-C stops the current cell (nothing partial is cached)."""
    configs = zoo.zoo_configs(args.dataset, args.betas, args.latent_dims)
    torch.set_num_threads(max(1, args.threads))
    print(f"zoo: {len(configs)} {args.dataset} models (β {args.betas} × latent {args.latent_dims})", file=sys.stderr)
    t0 = time.perf_counter()
    pool = zoo.zoo_pool(args.workers, args.ray, threads=args.threads)
    with _stop_on_sigint() as stop, contextlib.closing(pool) if pool else contextlib.nullcontext():
        load = lambda name: _load(name, args)  # noqa: E731
        cells = zoo.run_zoo(
            configs, args.cache_root, load_data=load, on_cell=cli_text.zoo_line, stop_event=stop, pool=pool
        )
    wall = time.perf_counter() - t0
    done = sum(c.status in ("cached", "trained") for c in cells)
    print(f"zoo: {done}/{len(configs)} models in the cache, {wall:.1f} s wall", file=sys.stderr)
    if args.json:
        print(json.dumps(zoo.summary(cells, wall)))
    if stop.is_set():
        print("Stopped: the unfinished model was not cached; run the same command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0 if done == len(configs) else EXIT_ERROR
