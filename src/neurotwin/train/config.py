"""The training configuration: a frozen, self-validating dataclass, plus its schedules.

The learning rate and the loss weights are pure functions of the training progress
``p`` in [0, 1] (fraction of the step budget done, or of the time budget, whichever is larger):

* learning rate: linear warm-up over ``warmup_frac``, constant, then a cosine or linear
  cool-down over the last ``cooldown_frac`` down to ``lr * final_lr_frac``;
* loss weights: ``loss_weights`` ramping linearly to ``loss_weights_end`` over the first
  ``ramp_frac`` of training (no ramp when ``loss_weights_end`` is unset).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from neurotwin.models.base import HEADS

DEFAULT_EPOCHS = 100.0  # the budget when none of steps, epochs, max_minutes is given
DEFAULT_LOSS_WEIGHTS: dict[str, float] = {
    "spike": 1.0,
    "soma": 0.2,
    "near_spike": 0.2,
    "inst_rate": 0.2,
    "dend": 0.05,
}
COOLDOWNS = ("cosine", "linear")
AMP_MODES = ("auto", "bf16", "fp16", "off")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def _req(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


@dataclass(frozen=True)
class TrainConfig:
    """How a twin is trained. Budgets: ``steps``, ``epochs`` (one epoch = one window per
    training simulation), ``max_minutes`` (wall time, validation included); training stops at
    the first one reached; with none set, ``epochs = DEFAULT_EPOCHS``.

    A time budget makes the schedules follow wall time, so such a run is not bit-reproducible;
    step and epoch budgets are (on CPU, given ``seed``).
    """

    window_ms: int = 2048
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 1e-3  # AdamW
    warmup_frac: float = 0.05
    cooldown_frac: float = 0.3
    cooldown: str = "cosine"
    final_lr_frac: float = 0.01
    grad_clip: float | None = 1.0  # max gradient norm; None: no clipping
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LOSS_WEIGHTS))
    loss_weights_end: dict[str, float] | None = None  # heads left out keep their start weight
    ramp_frac: float = 0.0
    spike_pos_weight: float | None = None
    init_head_bias: bool = True  # start each head's output at its mean training target
    val_every: int = 100  # steps between validations (and checkpoints)
    val_max_sims: int | None = None  # validate on the first N validation simulations
    log_every: int = 10  # steps per metrics.csv row of averaged training losses
    steps: int | None = None
    epochs: float | None = None
    max_minutes: float | None = None
    seed: int = 0
    device: str = "auto"  # auto (CUDA when present, else CPU) | cpu | cuda[:N] | mps
    amp: str = "auto"  # mixed precision on CUDA only: auto (bf16 if supported, else fp16)
    memory_budget_gb: float = 2.0  # cache the training split in memory below this size
    tensorboard: bool = True

    def __post_init__(self) -> None:
        _coerce(self)
        _req(self.window_ms >= 1, f"window_ms must be >= 1, got {self.window_ms}")
        _req(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _req(self.lr > 0, f"lr must be > 0, got {self.lr}")
        _req(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        for name in ("warmup_frac", "cooldown_frac", "final_lr_frac", "ramp_frac"):
            v = getattr(self, name)
            _req(0 <= v <= 1, f"{name} must be in [0, 1], got {v}")
        _req(
            self.warmup_frac + self.cooldown_frac <= 1,
            f"warmup_frac + cooldown_frac must be <= 1, got {self.warmup_frac} + "
            f"{self.cooldown_frac}",
        )
        _req(
            self.cooldown in COOLDOWNS,
            f"cooldown must be one of {COOLDOWNS}, got {self.cooldown!r}",
        )
        _req(
            self.grad_clip is None or self.grad_clip > 0,
            f"grad_clip must be > 0 or null, got {self.grad_clip}",
        )
        _check_weights("loss_weights", self.loss_weights)
        if self.loss_weights_end is not None:
            _check_weights("loss_weights_end", self.loss_weights_end)
        _req(
            self.spike_pos_weight is None or self.spike_pos_weight > 0,
            f"spike_pos_weight must be > 0 or null, got {self.spike_pos_weight}",
        )
        _req(self.val_every >= 1, f"val_every must be >= 1, got {self.val_every}")
        _req(
            self.val_max_sims is None or self.val_max_sims >= 1,
            f"val_max_sims must be >= 1 or null, got {self.val_max_sims}",
        )
        _req(self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}")
        _req(self.steps is None or self.steps >= 1, f"steps must be >= 1, got {self.steps}")
        _req(self.epochs is None or self.epochs > 0, f"epochs must be > 0, got {self.epochs}")
        _req(
            self.max_minutes is None or self.max_minutes > 0,
            f"max_minutes must be > 0, got {self.max_minutes}",
        )
        _req(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        _req(
            bool(_DEVICE.match(self.device)),
            f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}",
        )
        _req(self.amp in AMP_MODES, f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        _req(
            self.memory_budget_gb >= 0,
            f"memory_budget_gb must be >= 0, got {self.memory_budget_gb}",
        )

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a (possibly partial) dict; unknown keys are a ValueError."""
        return cls().replace(**d)

    def replace(self, **overrides: Any) -> TrainConfig:
        """A copy with ``overrides``; ``loss_weights.soma=0.1`` style keys update one entry."""
        valid = {f.name for f in dataclasses.fields(self)}
        flat: dict[str, Any] = {}
        for key, value in overrides.items():
            base, dot, sub = key.partition(".")
            if base not in valid:
                raise ValueError(
                    f"unknown TrainConfig field {key!r}; valid fields: {', '.join(sorted(valid))}"
                )
            if dot:
                if base not in ("loss_weights", "loss_weights_end"):
                    raise ValueError(f"{base} has no entries; use {base}=VALUE, got {key!r}")
                current = flat.get(base, getattr(self, base)) or {}
                flat[base] = {**current, sub: value}
            else:
                flat[base] = dict(value) if isinstance(value, dict) else value
        return dataclasses.replace(self, **flat)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolved(self) -> TrainConfig:
        """This config with the default budget filled in when none is set."""
        if self.steps is None and self.epochs is None and self.max_minutes is None:
            return dataclasses.replace(self, epochs=DEFAULT_EPOCHS)
        return self

    # -- budgets and schedules ----------------------------------------------------------
    def total_steps(self, num_train_sims: int) -> int | None:
        """The step budget (None when only a time budget is set)."""
        budgets = []
        if self.steps is not None:
            budgets.append(self.steps)
        if self.epochs is not None:  # one epoch = num_train_sims windows
            budgets.append(max(1, math.ceil(self.epochs * num_train_sims / self.batch_size - 1e-9)))
        return min(budgets) if budgets else None

    def lr_at(self, progress: float) -> float:
        """Learning rate at training progress ``progress`` in [0, 1]."""
        p = min(max(progress, 0.0), 1.0)
        factor = 1.0
        if self.warmup_frac > 0 and p < self.warmup_frac:
            factor = p / self.warmup_frac
        start_cool = 1.0 - self.cooldown_frac
        if self.cooldown_frac > 0 and p > start_cool:
            q = (p - start_cool) / self.cooldown_frac
            shape = 0.5 * (1 + math.cos(math.pi * q)) if self.cooldown == "cosine" else 1 - q
            factor = min(factor, self.final_lr_frac + (1 - self.final_lr_frac) * shape)
        return self.lr * factor

    def weights_at(self, progress: float) -> dict[str, float]:
        """Loss weight of every head at training progress ``progress`` in [0, 1]."""
        start = {h: float(self.loss_weights.get(h, 0.0)) for h in HEADS}
        if self.loss_weights_end is None:
            return start
        end = {h: float(self.loss_weights_end.get(h, start[h])) for h in HEADS}
        q = 1.0 if self.ramp_frac == 0 else min(max(progress, 0.0) / self.ramp_frac, 1.0)
        return {h: start[h] + (end[h] - start[h]) * q for h in HEADS}


def _check_weights(name: str, weights: dict[str, float]) -> None:
    _req(isinstance(weights, dict), f"{name} must be a mapping head → weight, got {weights!r}")
    unknown = sorted(set(weights) - set(HEADS))
    _req(not unknown, f"{name} has unknown head(s) {unknown}; valid heads: {', '.join(HEADS)}")
    for head, w in weights.items():
        _req(
            isinstance(w, int | float) and not isinstance(w, bool) and w >= 0,
            f"{name}.{head} must be a number >= 0, got {w!r}",
        )


def _coerce(cfg: TrainConfig) -> None:
    """Accept ints for floats, numeric strings (``3e-4``: YAML 1.1 reads it as a string), and
    lists for dicts' values; then reject what is still of the wrong type."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        hint = hints[f.name]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        args = typing.get_args(hint) if union else (hint,)
        if value is None:
            _req(type(None) in args, f"{f.name} must not be null")
            continue
        if isinstance(value, str) and (float in args or int in args):
            try:
                value = float(value) if float in args else int(value)
            except ValueError:
                raise ValueError(f"{f.name} must be a number, got {value!r}") from None
        if float in args and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if int in args and isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, dict):
            value = {str(k): _num(f.name, k, v) for k, v in value.items()}
        ok = any(
            (a is float and isinstance(value, float))
            or (a is int and isinstance(value, int) and not isinstance(value, bool))
            or (a is bool and isinstance(value, bool))
            or (a is str and isinstance(value, str))
            or (typing.get_origin(a) is dict and isinstance(value, dict))
            for a in args
        )
        _req(ok, f"{f.name} has the wrong type: got {value!r}")
        object.__setattr__(cfg, f.name, value)


def _num(name: str, key: Any, v: Any) -> Any:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            raise ValueError(f"{name}.{key} must be a number, got {v!r}") from None
    return float(v) if isinstance(v, int) and not isinstance(v, bool) else v
