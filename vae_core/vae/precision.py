"""Which arithmetic the training step's GEMMs use under ``precision="auto"``: measured, not guessed.

A CPU's flags do not say whether bfloat16 GEMMs pay: with AMX tiles they ran ~5x faster than
float32 here, with AVX-512 BF16 and no AMX (an AMD EPYC) about 2x for MNIST's layers, and on a
CPU with neither they are emulated and slower; for small layers the casts cost what the GEMMs
gain. So on first use per machine (CPU model, torch version, thread count) and per shape class
(batch and layer widths), the training step itself is timed in both, for a few milliseconds
(``fast_step.time_step``), and bf16 is taken only where it is faster by ``MARGIN``. The
decision is kept in a small JSON file (the store layer puts it beside the model cache), so that
one machine decides once and a config trains the same way every time.

Master weights, the loss, Adam and every evaluation stay float32 whatever is chosen.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch

from vae_core.config import ModelConfig

MARGIN = 1.1  # bf16 must take at most 1/MARGIN of the fp32 time: smaller gains are within the noise
Timer = Callable[[ModelConfig, int, Literal["fp32", "bf16"]], float]  # ms per step for (model, batch, precision)


@dataclass(frozen=True)
class Timing:
    """One training step in each arithmetic, in milliseconds, and what it decides."""

    fp32_ms: float
    bf16_ms: float

    @property
    def choice(self) -> Literal["fp32", "bf16"]:
        return "bf16" if self.bf16_ms * MARGIN <= self.fp32_ms else "fp32"


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> list[str]:
    """The CPU flags that matter for bf16 GEMMs, of those this CPU has (Linux only)."""
    wanted = ("amx_tile", "amx_bf16", "avx512_bf16", "avx512f", "avx2")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [f for f in wanted if f in flags]


def machine_key() -> str:
    """What a decision holds for: the CPU, the torch build and the threads GEMMs run on."""
    return f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def shape_class(model: ModelConfig, batch: int) -> str:
    """The key of a decision within one machine, e.g. ``b512 784-400-40 | 20-400-784``."""
    encoder = "-".join(map(str, [model.x_dim, *model.hidden, 2 * model.latent_dim]))
    decoder = "-".join(map(str, [model.latent_dim, *model.hidden[::-1], model.x_dim]))
    return f"b{batch} {encoder} | {decoder}"


class PrecisionChooser:
    """Decides fp32 or bf16 for a model and batch by timing its step with ``timer``, remembering
    decisions per machine in ``path`` (JSON; None keeps them in memory only). A file that cannot
    be read is measured anew; one that cannot be written leaves the decision in memory."""

    def __init__(self, timer: Timer, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._timer = timer
        self._lock = threading.Lock()  # training threads may ask at once; one measures
        self._known: dict[str, dict[str, dict[str, float]]] = self._read()

    def timing(self, model: ModelConfig, batch: int) -> Timing:
        machine, shape = machine_key(), shape_class(model, batch)
        with self._lock:
            stored = self._known.get(machine, {}).get(shape)
            if stored is not None:
                return Timing(**stored)
            timing = Timing(self._timer(model, batch, "fp32"), self._timer(model, batch, "bf16"))
            self._known.setdefault(machine, {})[shape] = asdict(timing)
            self._write()
            return timing

    def __call__(self, model: ModelConfig, batch: int) -> Literal["fp32", "bf16"]:
        return self.timing(model, batch).choice

    def _read(self) -> dict[str, dict[str, dict[str, float]]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            known = json.loads(self.path.read_text())
            for shapes in known.values():
                for shape, stored in shapes.items():
                    shapes[shape] = asdict(Timing(float(stored["fp32_ms"]), float(stored["bf16_ms"])))
            return known
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}  # damaged: measure again and overwrite

    def _write(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self._known, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError:  # read-only, full or not a folder: the decision stays in memory
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
