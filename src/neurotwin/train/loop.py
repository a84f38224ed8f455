"""One explicit training loop: :func:`train`.

Step ``s`` trains on items ``s·B .. s·B + B - 1`` of the seeded :class:`RandomWindows`
stream, so batches depend only on the seed and the step. A checkpoint holds everything else
that the rest of the run depends on (weights, AdamW moments, grad scaler, step, elapsed time,
best metric, torch RNG states), so a run interrupted at a checkpoint and resumed ends with the
same weights as one that never stopped (on CPU, with a step or epoch budget).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from neurotwin.data.store import open_dataset
from neurotwin.data.windows import FixedWindows, RandomWindows, available_targets
from neurotwin.interrupt import Interrupted, StopFlag
from neurotwin.models.base import Twin
from neurotwin.train.bias_init import head_bias_values, init_head_bias
from neurotwin.train.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    versions,
    write_json,
)
from neurotwin.train.config import TrainConfig
from neurotwin.train.device import amp_dtype, autocast, resolve_device
from neurotwin.train.losses import head_losses, total_loss
from neurotwin.train.run import BEST, LAST, MetricsLog, prepare_run_dir
from neurotwin.train.validation import validate

log = logging.getLogger(__name__)


class TrainingInterrupted(Interrupted):
    """Training stopped on request; ``checkpoints/last.pt`` holds the state to resume from."""


@dataclass(frozen=True)
class TrainEvent:
    """What the progress callback sees after every step."""

    step: int
    total_steps: int | None
    progress: float  # fraction of the budget used, in [0, 1]
    elapsed_s: float
    lr: float
    loss: float  # weighted training loss of this step
    losses: dict[str, float]
    val: dict[str, float] | None  # latest validation metrics
    validated: bool  # validation ran at this step
    eta_s: float | None


@dataclass(frozen=True)
class RunSummary:
    """What :func:`train` returns (also written to ``summary.json``)."""

    run_dir: str
    model: str
    preset: str | None
    num_params: int
    steps: int
    epochs: float
    elapsed_s: float
    stopped_by: str  # steps | epochs | max_minutes | interrupted
    resumed_from_step: int | None
    best_step: int | None
    best_metric: str
    best_value: float | None
    last_val: dict[str, float] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- model construction (the registry lives in neurotwin.models) ------------------------------
def build_model(name: str, preset: str | None, cell: Any, overrides: dict[str, Any]) -> Twin:
    """``neurotwin.models.build(name, preset, **for_cell(cell), **overrides)``."""
    from neurotwin import models

    return models.build(name, preset, **{**models.for_cell(cell), **overrides})  # type: ignore[attr-defined]


def model_from_spec(spec: dict[str, Any]) -> Twin:
    from neurotwin import models

    return models.from_spec(spec)  # type: ignore[attr-defined]


# -- the loop ---------------------------------------------------------------------------------
def train(
    data_path: str | Path,
    model_name: str,
    preset: str | None = None,
    out_dir: str | Path = "runs/run",
    overrides: dict[str, Any] | None = None,
    train_overrides: dict[str, Any] | None = None,
    *,
    config: TrainConfig | None = None,
    progress: Callable[[TrainEvent], None] | None = None,
) -> RunSummary:
    """Train twin ``model_name`` (``preset``, model config ``overrides``) on the dataset at
    ``data_path``, writing the run folder ``out_dir``; rerunning with the same arguments resumes
    from ``checkpoints/last.pt``. ``train_overrides`` update ``config`` (default
    :class:`TrainConfig`). ``progress`` is called after every step; raising KeyboardInterrupt
    there stops training like Ctrl-C: the state is saved and :class:`TrainingInterrupted` is
    raised. Seeds torch's global generator with ``seed`` (the twin's initial weights and any
    dropout draw from it)."""
    cfg = (config or TrainConfig()).replace(**(train_overrides or {})).resolved()
    store = open_dataset(data_path)
    cell = store.config.cell
    torch.manual_seed(cfg.seed)
    model = build_model(model_name, preset, cell, dict(overrides or {}))
    run_dir = Path(out_dir)
    resolved = {
        "data": {
            "path": str(Path(data_path).resolve()),
            "config_hash": store.meta["config_hash"],
            "cell": cell.name,
        },
        "model": {
            "name": model_name,
            "preset": preset,
            "overrides": dict(overrides or {}),
            "spec": model.spec(),  # type: ignore[attr-defined]
            "num_params": model.num_params,
        },
        "train": cfg.to_dict(),
        "seed": cfg.seed,
        "versions": versions(),
    }
    resume = prepare_run_dir(run_dir, resolved)
    return _Trainer(cfg, store, model, run_dir, resolved, resume, progress).run()


class _Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        store: Any,
        model: Twin,
        run_dir: Path,
        resolved: dict[str, Any],
        resume: bool,
        progress: Callable[[TrainEvent], None] | None,
    ) -> None:
        self.cfg, self.run_dir, self.resolved, self.progress = cfg, run_dir, resolved, progress
        self.device = resolve_device(cfg.device)
        self.dtype = amp_dtype(self.device, cfg.amp)
        self.model = model.to(self.device)
        heads = [h for h in model.config.heads if h in available_targets(store)]
        if not heads:
            raise ValueError(f"the model's heads {model.config.heads} have no target in the data")
        self.heads = heads
        self.train_ds = RandomWindows(
            store,
            "train",
            window_ms=cfg.window_ms,
            seed=cfg.seed,
            targets=heads,
            memory_budget_gb=cfg.memory_budget_gb,
        )
        self.val_ds = FixedWindows(
            store,
            "valid",
            window_ms=cfg.window_ms,
            targets=heads,
            memory_budget_gb=cfg.memory_budget_gb,
            max_sims=cfg.val_max_sims,
        )
        self.total_steps = cfg.total_steps(len(self.train_ds))
        self.steps_per_epoch = len(self.train_ds) / cfg.batch_size  # epoch: one window per sim
        decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
        self.opt = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=cfg.lr,
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)
        self.step = 0
        self.elapsed0 = 0.0
        self.best_metric = "val_spike" if "spike" in heads else "val_loss"
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.last_val: dict[str, float] | None = None
        self.last_val_step = -1
        self.resumed_from: int | None = None
        if resume:
            self._load(load_checkpoint(run_dir / LAST, map_location=self.device))
        elif cfg.init_head_bias:
            init_head_bias(model, head_bias_values(self.train_ds, model))

    # -- state ---------------------------------------------------------------------------
    def _state(self, elapsed: float, lr: float) -> dict[str, Any]:
        return {
            "model_spec": self.resolved["model"]["spec"],
            "state_dict": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "scheduler": {
                "step": self.step,
                "progress": self._progress(self.step, elapsed),
                "elapsed_s": elapsed,
                "lr": lr,
            },
            "step": self.step,
            "elapsed_s": elapsed,
            "best": {"metric": self.best_metric, "value": self.best_value, "step": self.best_step},
            "last_val": self.last_val,
            "last_val_step": self.last_val_step,
            "rng": rng_state(),
            "train_config": self.cfg.to_dict(),
        }

    def _load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["state_dict"])
        self.opt.load_state_dict(state["optimizer"])
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.elapsed0 = float(state["elapsed_s"])
        best = state["best"]
        self.best_value, self.best_step = best["value"], best["step"]
        self.last_val = state.get("last_val")
        self.last_val_step = int(state.get("last_val_step", -1))
        set_rng_state(state["rng"])
        self.resumed_from = self.step
        log.info("resuming %s from step %d", self.run_dir, self.step)

    # -- budget --------------------------------------------------------------------------
    def _progress(self, step: int, elapsed: float) -> float:
        fracs = [0.0]
        if self.total_steps is not None:
            fracs.append(step / self.total_steps)
        if self.cfg.max_minutes is not None:
            fracs.append(elapsed / (60.0 * self.cfg.max_minutes))
        return min(max(fracs), 1.0)

    def _stop_reason(self, elapsed: float) -> str | None:
        cfg = self.cfg
        if self.total_steps is not None and self.step >= self.total_steps:
            if cfg.steps is not None and cfg.steps == self.total_steps:
                return "steps"
            return "epochs"
        if cfg.max_minutes is not None and elapsed >= 60.0 * cfg.max_minutes:
            return "max_minutes"
        return None

    # -- run -----------------------------------------------------------------------------
    def _batches(self) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
        b = self.cfg.batch_size
        while True:
            x, t = self.train_ds.batch(range(self.step * b, (self.step + 1) * b))
            t = self.model.scaling.scale_targets(t)
            yield x.to(self.device), {k: v.to(self.device) for k, v in t.items()}

    def run(self) -> RunSummary:
        cfg = self.cfg
        columns = ["step", "epoch", "elapsed_s", "lr", "loss"]
        columns += [f"loss_{h}" for h in self.heads]
        columns += ["val_loss", *[f"val_{h}" for h in self.heads]]
        if "spike" in self.heads:
            columns.append("val_spike_auc")
        metrics = MetricsLog(
            self.run_dir, columns, self.resumed_from if self.resumed_from else None, cfg.tensorboard
        )
        t0 = time.monotonic()

        def elapsed() -> float:
            return self.elapsed0 + time.monotonic() - t0

        lr = cfg.lr_at(self._progress(self.step, elapsed()))
        acc: dict[str, float] = {}
        n_acc = 0
        stopped_by: str | None = None
        in_step = False
        batches = self._batches()
        self.model.train()
        try:
            with StopFlag() as flag:
                stopped_by = self._stop_reason(elapsed())
                while stopped_by is None:
                    if flag.stop:
                        stopped_by = "interrupted"
                        break
                    in_step = True
                    p_lr = self._progress(self.step + 1, elapsed())
                    lr = cfg.lr_at(p_lr)
                    for g in self.opt.param_groups:
                        g["lr"] = lr
                    weights = cfg.weights_at(p_lr)
                    x, t = next(batches)
                    with autocast(self.device, self.dtype):
                        out = self.model(x)
                    losses = head_losses(out, t, spike_pos_weight=cfg.spike_pos_weight)
                    loss = total_loss(losses, weights)
                    if not torch.isfinite(loss):
                        raise RuntimeError(
                            f"non-finite training loss at step {self.step + 1} "
                            f"({ {h: float(v) for h, v in losses.items()} }); lower lr"
                        )
                    self.opt.zero_grad(set_to_none=True)
                    self.scaler.scale(loss).backward()
                    if cfg.grad_clip is not None:
                        self.scaler.unscale_(self.opt)
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                    self.scaler.step(self.opt)
                    self.scaler.update()
                    self.step += 1
                    in_step = False

                    loss_f = float(loss.detach())
                    head_f = {h: float(v.detach()) for h, v in losses.items()}
                    acc["loss"] = acc.get("loss", 0.0) + loss_f
                    for h, v in head_f.items():
                        acc[f"loss_{h}"] = acc.get(f"loss_{h}", 0.0) + v
                    n_acc += 1
                    stopped_by = self._stop_reason(elapsed())  # the last step logs and validates
                    row: dict[str, Any] | None = None
                    if self.step % cfg.log_every == 0 or stopped_by is not None:
                        row = self._row(elapsed(), lr, {k: v / n_acc for k, v in acc.items()})
                        acc, n_acc = {}, 0
                    validated = self.step % cfg.val_every == 0 or stopped_by is not None
                    if validated:
                        row = row or self._row(elapsed(), lr, {})
                        row.update(self._validate_and_save(elapsed(), lr, weights))
                    if row is not None:
                        metrics.write(row)
                    if self.progress is not None:
                        self.progress(self._event(elapsed(), lr, loss_f, head_f, validated))
                if self.step > self.last_val_step and stopped_by != "interrupted":
                    # resumed from a checkpoint saved on interruption after the last step
                    row = self._row(elapsed(), lr, {})
                    row.update(self._validate_and_save(elapsed(), lr, cfg.weights_at(1.0)))
                    metrics.write(row)
                    if self.progress is not None:
                        self.progress(self._event(elapsed(), lr, math.nan, {}, True))
        except KeyboardInterrupt:
            stopped_by = "interrupted"
        finally:
            metrics.close()
        if stopped_by == "interrupted":
            if not in_step:  # a step cut in two is not saved: last.pt keeps the previous state
                save_checkpoint(self.run_dir / LAST, self._state(elapsed(), lr))
            summary = self._summary(elapsed(), "interrupted")
            write_json(self.run_dir / "summary.json", summary.to_dict())
            raise TrainingInterrupted(
                f"training interrupted at step {self.step}; rerun the same command to resume"
            )
        summary = self._summary(elapsed(), stopped_by or "steps")
        write_json(self.run_dir / "summary.json", summary.to_dict())
        return summary

    def _row(self, elapsed: float, lr: float, train: dict[str, float]) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "elapsed_s": elapsed,
            "lr": lr,
            **train,
        }

    def _validate_and_save(
        self, elapsed: float, lr: float, weights: dict[str, float]
    ) -> dict[str, float]:
        val = validate(
            self.model,
            self.val_ds,
            batch_size=self.cfg.batch_size,
            weights=weights,
            device=self.device,
            dtype=self.dtype,
        )
        self.last_val, self.last_val_step = val, self.step
        value = val[self.best_metric]
        improved = self.best_value is None or value < self.best_value
        if improved:
            self.best_value, self.best_step = value, self.step
        state = self._state(elapsed, lr)
        if improved:
            save_checkpoint(self.run_dir / BEST, state)
        save_checkpoint(self.run_dir / LAST, state)
        log.info("step %d: %s", self.step, ", ".join(f"{k} {v:.4g}" for k, v in val.items()))
        return val

    def _event(
        self, elapsed: float, lr: float, loss: float, losses: dict[str, float], validated: bool
    ) -> TrainEvent:
        p = self._progress(self.step, elapsed)
        done_here = elapsed - self.elapsed0
        p0 = self._progress(self.resumed_from or 0, self.elapsed0)
        rate = (p - p0) / done_here if done_here > 0 else 0.0
        return TrainEvent(
            step=self.step,
            total_steps=self.total_steps,
            progress=p,
            elapsed_s=elapsed,
            lr=lr,
            loss=loss,
            losses=losses,
            val=self.last_val,
            validated=validated,
            eta_s=(1.0 - p) / rate if rate > 0 else None,
        )

    def _summary(self, elapsed: float, stopped_by: str) -> RunSummary:
        m = self.resolved["model"]
        return RunSummary(
            run_dir=str(self.run_dir),
            model=m["name"],
            preset=m["preset"],
            num_params=m["num_params"],
            steps=self.step,
            epochs=self.step / self.steps_per_epoch,
            elapsed_s=elapsed,
            stopped_by=stopped_by,
            resumed_from_step=self.resumed_from,
            best_step=self.best_step,
            best_metric=self.best_metric,
            best_value=self.best_value,
            last_val=self.last_val,
        )
