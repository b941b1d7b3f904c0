"""Configuration: frozen dataclasses that say what to train, and the dataset table.

Defaults live here and nowhere else. A config is plain data (no I/O, no environment
reads), so that its canonical JSON is a stable cache key (see ``cache.py``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Likelihood = Literal["bernoulli", "gaussian"]
KLEstimator = Literal["analytic", "mc"]
# The training GEMMs' arithmetic: "auto" is bfloat16 where a step measured faster in it on this
# machine (vae/precision.py), else float32.
# Master weights, the loss, Adam and every evaluation stay float32 (see fast_step.py).
Precision = Literal["auto", "fp32", "bf16"]
LRSchedule = Literal["constant", "cosine"]
Activation = Literal["relu", "tanh"]


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the code needs to know about a dataset before loading it."""

    name: str
    kind: Literal["toy2d", "builtin", "files"]
    x_dim: int
    image_shape: tuple[int, int] | None  # None for points in the plane
    likelihood: Likelihood
    title: str
    class_names: tuple[str, ...] = ()


_DIGITS = tuple(str(d) for d in range(10))
_FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("digits", "builtin", 64, (8, 8), "bernoulli", "8x8 digits (scikit-learn)", _DIGITS),
        DatasetInfo("mnist", "files", 784, (28, 28), "bernoulli", "MNIST digits", _DIGITS),
        DatasetInfo("fashion-mnist", "files", 784, (28, 28), "bernoulli", "Fashion-MNIST", _FASHION),
        DatasetInfo("binarized-mnist", "files", 784, (28, 28), "bernoulli", "Binarized MNIST (Larochelle)"),
        DatasetInfo("two-moons", "toy2d", 2, None, "gaussian", "Two moons (2-D points)", ("upper", "lower")),
        DatasetInfo("circles", "toy2d", 2, None, "gaussian", "Two circles (2-D points)", ("outer", "inner")),
        DatasetInfo(
            "pinwheel",
            "toy2d",
            2,
            None,
            "gaussian",
            "Pinwheel (2-D points)",
            tuple(f"arm {i}" for i in range(5)),
        ),
        DatasetInfo(
            "8-gaussians",
            "toy2d",
            2,
            None,
            "gaussian",
            "8 Gaussians (2-D points)",
            tuple(f"mode {i}" for i in range(8)),
        ),
    )
}
DEFAULT_DATASET = "digits"

# Per-dataset defaults over the dataclass defaults, chosen for a lecture: digits trains in ~2 s,
# the toy sets in ~3 s, MNIST is the classic 784-400-z setup. A fixed decoder std for the
# toy sets: with a learned one they collapse to a single Gaussian, a lesson for later.
_TOY = {"hidden": (64, 64), "decoder_std": 0.1, "epochs": 100, "lr": 3e-3}
# MNIST: batch 512, a warm-up epoch, then a cosine decay from 1.2e-2, and Adam's beta2 = 0.99
# reach the classic setup's test ELBO (batch 128, Adam 1e-3, 10 epochs) in 7 epochs, 4x
# faster in wall time on 2 cores, and end 1.7 nats better (bench/README.md).
_MNIST = {
    "hidden": (400,),
    "epochs": 10,
    "batch_size": 512,
    "lr": 1.2e-2,
    "lr_schedule": "cosine",
    "lr_warmup_epochs": 1.0,
    "adam_beta2": 0.99,
}
# Binarized MNIST is the dataset of the published log-likelihoods: the one-layer architecture of
# Burda et al. (2016), 784-200-200-50 with latent_dim=50 (bench/paper.py). MNIST's schedule (cosine
# from 0.012) left 8 of 50 units active there; a cosine from 3e-3 over 400 epochs (~7 minutes on 2
# cores) and a 30-epoch KL warm-up (Bowman et al., 2016) kept 23-25 active, chosen on the
# official validation split, never the test set.
_BINARIZED = {
    "hidden": (200, 200),
    "epochs": 400,
    "batch_size": 128,
    "lr": 3e-3,
    "lr_schedule": "cosine",
    "lr_warmup_epochs": 1.0,
    "warmup_epochs": 30.0,
}
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"hidden": (256, 256), "epochs": 50},
    "mnist": _MNIST,
    "fashion-mnist": _MNIST,
    "binarized-mnist": _BINARIZED,
    **{name: _TOY for name in ("two-moons", "circles", "pinwheel", "8-gaussians")},
}


@dataclass(frozen=True)
class ModelConfig:
    """An MLP encoder/decoder pair: x_dim -> hidden -> (mu, logvar) and back."""

    x_dim: int = 64
    latent_dim: int = 2
    hidden: tuple[int, ...] = (256, 256)
    likelihood: Likelihood = "bernoulli"
    # Gaussian likelihood only: a fixed decoder std, or None to learn one per x dimension.
    decoder_std: float | None = None
    activation: Activation = "relu"  # between hidden layers; "tanh" as in Burda et al. (2016)

    def __post_init__(self) -> None:
        # Canonical types, so that equal configs have equal JSON (and cache keys).
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.decoder_std is not None:
            object.__setattr__(self, "decoder_std", float(self.decoder_std))


@dataclass(frozen=True)
class TrainConfig:
    """Adam on the beta-weighted negative ELBO, in-memory minibatches."""

    beta: float = 1.0
    epochs: int = 20
    lr: float = 1e-3
    # "cosine": after lr_warmup_epochs of linear warm-up, the rate falls along a half cosine to
    # 0 at the last step (Loshchilov & Hutter, 2017). Both depend on `epochs`.
    lr_schedule: LRSchedule = "constant"
    lr_warmup_epochs: float = 0.0
    adam_beta2: float = 0.999
    batch_size: int = 128
    kl_estimator: KLEstimator = "analytic"
    kl_samples: int = 1  # L, samples of z per example (recon term, and KL when kl_estimator="mc")
    warmup_epochs: float = 0.0  # beta rises linearly from 0 over this many epochs
    binarize: bool = True  # dynamic binarization for Bernoulli likelihoods
    seed: int = 0
    precision: Precision = "auto"
    # β changed during the run: (0-based optimizer step, β from that step on), in step order; empty
    # for a constant β (vae/schedule.py). Part of the key: a live-β run is never a constant-β one.
    beta_schedule: tuple[tuple[int, float], ...] = ()

    def __post_init__(self) -> None:
        for name in ("beta", "lr", "warmup_epochs", "lr_warmup_epochs", "adam_beta2"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "beta_schedule", tuple((int(s), float(b)) for s, b in self.beta_schedule))


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a trained model: the cache key is a hash of this."""

    dataset: str = DEFAULT_DATASET
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not d["train"]["beta_schedule"]:  # a constant β keeps the JSON (and the key) it always had
            del d["train"]["beta_schedule"]
        return d

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace — stable across runs."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return cls(dataset=d["dataset"], model=ModelConfig(**d["model"]), train=TrainConfig(**d["train"]))

    @property
    def info(self) -> DatasetInfo:
        return DATASETS[self.dataset]


def make_config(dataset: str = DEFAULT_DATASET, **overrides: Any) -> RunConfig:
    """A RunConfig for a dataset, taking flat overrides (``latent_dim=2, beta=4``).

    Overrides go over ``DATASET_DEFAULTS[dataset]``, which go over the dataclass defaults.
    Model fields that follow from the dataset (x_dim, likelihood) are filled in; the
    Bernoulli-only ``binarize`` flag is switched off for Gaussian data.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    info = DATASETS[dataset]
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(overrides) - model_fields - train_fields
    if unknown:
        raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
    overrides = {**DATASET_DEFAULTS.get(dataset, {}), **overrides}
    model_kw = {k: v for k, v in overrides.items() if k in model_fields}
    train_kw = {k: v for k, v in overrides.items() if k in train_fields}
    model_kw.update(x_dim=info.x_dim, likelihood=info.likelihood)
    if info.likelihood == "gaussian":
        train_kw["binarize"] = False
    if dataset == "binarized-mnist":
        train_kw["binarize"] = False  # already binary
    config = RunConfig(dataset, ModelConfig(**model_kw), TrainConfig(**train_kw))
    validate(config)
    return config


def validate(config: RunConfig) -> None:
    """Raise ValueError with a readable message for a config that cannot train."""
    m, t = config.model, config.train
    problems = []
    if not 1 <= m.latent_dim <= 256:
        problems.append(f"latent_dim must be in 1..256, got {m.latent_dim}")
    if m.activation not in ("relu", "tanh"):
        problems.append(f"activation must be 'relu' or 'tanh', got {m.activation!r}")
    if not m.hidden or any(h < 1 for h in m.hidden):
        problems.append(f"hidden widths must be positive, got {m.hidden}")
    if not 0 <= t.beta <= 1000:
        problems.append(f"beta must be in 0..1000, got {t.beta}")
    if t.epochs < 1:
        problems.append(f"epochs must be at least 1, got {t.epochs}")
    if not 0 < t.lr < 1:
        problems.append(f"learning rate must be in (0, 1), got {t.lr}")
    if t.lr_schedule not in ("constant", "cosine"):
        problems.append(f"lr_schedule must be 'constant' or 'cosine', got {t.lr_schedule!r}")
    if t.lr_warmup_epochs < 0:
        problems.append(f"lr_warmup_epochs must be at least 0, got {t.lr_warmup_epochs}")
    if not 0 <= t.adam_beta2 < 1:
        problems.append(f"adam_beta2 must be in [0, 1), got {t.adam_beta2}")
    if t.batch_size < 1:
        problems.append(f"batch size must be at least 1, got {t.batch_size}")
    if t.kl_estimator not in ("analytic", "mc"):
        problems.append(f"kl_estimator must be 'analytic' or 'mc', got {t.kl_estimator!r}")
    if t.precision not in ("auto", "fp32", "bf16"):
        problems.append(f"precision must be 'auto', 'fp32' or 'bf16', got {t.precision!r}")
    if t.kl_samples < 1:
        problems.append(f"kl_samples must be at least 1, got {t.kl_samples}")
    starts = [s for s, _ in t.beta_schedule]
    if starts != sorted(starts) or any(s < 0 for s in starts) or not all(0 <= b <= 1000 for _, b in t.beta_schedule):
        problems.append(f"beta_schedule must be (step >= 0, beta in 0..1000) pairs in step order: {t.beta_schedule}")
    if problems:
        raise ValueError("; ".join(problems))
