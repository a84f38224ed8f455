"""Training one inverse regressor on in-memory arrays: :func:`fit_regressor`.

Seeded (weights, batch order, dropout), AdamW or Adam, a cosine / plateau / constant learning
rate schedule per epoch, early stopping on the validation loss (the best weights are kept),
CPU by default or CUDA when present (``device="auto"``). With ``checkpoint`` set, the state
after every epoch is written there atomically, and a later call with the same arguments resumes
from it (an interrupted run then ends with the same weights as one that never stopped, on CPU).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from neurotwin.interrupt import Interrupted, StopFlag
from neurotwin.inverse.regressor import InverseCNN, RegressorConfig, _coerce, _req
from neurotwin.train.checkpoint import load_checkpoint, save_checkpoint
from neurotwin.train.device import resolve_device

log = logging.getLogger(__name__)

OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("cosine", "plateau", "constant")
LOSSES = ("mse", "mae")


class FitInterrupted(Interrupted):
    """Training stopped on request; the epoch checkpoint holds the state to resume from."""


@dataclass(frozen=True)
class FitConfig:
    """How one regressor is trained (``max_epochs`` with early stopping after ``patience``
    epochs without a better validation loss; ``max_minutes`` caps wall time)."""

    max_epochs: int = 60
    patience: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4  # AdamW's decoupled decay (Adam: L2 penalty)
    optimizer: str = "adamw"
    schedule: str = "cosine"
    final_lr_frac: float = 0.02  # cosine: lr at the last epoch, as a fraction of ``lr``
    loss: str = "mse"
    grad_clip: float | None = 1.0
    max_minutes: float | None = None
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        _coerce(self)
        _req(self.max_epochs >= 1, f"max_epochs must be >= 1, got {self.max_epochs}")
        _req(self.patience >= 1, f"patience must be >= 1, got {self.patience}")
        _req(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _req(self.lr > 0, f"lr must be > 0, got {self.lr}")
        _req(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _req(
            self.optimizer in OPTIMIZERS,
            f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}",
        )
        _req(
            self.schedule in SCHEDULES,
            f"schedule must be one of {SCHEDULES}, got {self.schedule!r}",
        )
        _req(
            0 < self.final_lr_frac <= 1,
            f"final_lr_frac must be in (0, 1], got {self.final_lr_frac}",
        )
        _req(self.loss in LOSSES, f"loss must be one of {LOSSES}, got {self.loss!r}")
        _req(
            self.grad_clip is None or self.grad_clip > 0,
            f"grad_clip must be > 0, got {self.grad_clip}",
        )
        _req(
            self.max_minutes is None or self.max_minutes > 0,
            f"max_minutes must be > 0, got {self.max_minutes}",
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown fit field(s) {unknown}; known: {sorted(names)}")
        return cls(**d)

    def replace(self, **changes: Any) -> FitConfig:
        return self.from_dict({**self.to_dict(), **changes})


@dataclass
class FitResult:
    """The trained model (best validation weights, eval mode, on CPU) and its history."""

    model: InverseCNN
    best_epoch: int
    best_val: float
    epochs: int
    elapsed_s: float
    stopped_by: str  # early_stop | max_epochs | max_minutes
    history: list[dict[str, float]] = field(default_factory=list)


def _loss_fn(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    return nn.functional.mse_loss if name == "mse" else nn.functional.l1_loss


def _optimizer(model: nn.Module, cfg: FitConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _schedule(opt: torch.optim.Optimizer, cfg: FitConfig) -> Any:
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(cfg.max_epochs, 1), eta_min=cfg.lr * cfg.final_lr_frac
        )
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=0.5, patience=max(cfg.patience // 3, 1)
        )
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


@torch.no_grad()
def predict_array(
    model: InverseCNN, x: np.ndarray | Tensor, batch_size: int = 512, device: str = "cpu"
) -> np.ndarray:
    """``model(x)`` in eval mode, batched: (N, T) → (N, K) float32."""
    model.eval()
    dev = torch.device(device)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    out = [model(xt[i : i + batch_size].to(dev)).cpu() for i in range(0, len(xt), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.n_outputs), np.float32)


@torch.no_grad()
def embed_array(model: InverseCNN, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """``model.embed(x)`` in eval mode, batched: (N, T) → (N, E) float32."""
    model.eval()
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    out = [model.embed(xt[i : i + batch_size]) for i in range(0, len(xt), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.embedding_dim), np.float32)


def _check_arrays(x: np.ndarray, z: np.ndarray, what: str) -> None:
    if x.ndim != 2 or z.ndim != 2 or len(x) != len(z):
        raise ValueError(f"{what}: expected x (N, T) and z (N, K), got {x.shape} and {z.shape}")
    if len(x) == 0:
        raise ValueError(f"{what}: no samples")
    if not (np.isfinite(x).all() and np.isfinite(z).all()):
        raise ValueError(f"{what}: features or targets hold NaN or inf")


def fit_regressor(
    model_cfg: RegressorConfig,
    fit_cfg: FitConfig,
    x_train: np.ndarray,
    z_train: np.ndarray,
    x_val: np.ndarray,
    z_val: np.ndarray,
    *,
    checkpoint: str | Path | None = None,
    stop: StopFlag | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Train an :class:`InverseCNN` on features ``x`` (N, T) and scaled targets ``z`` (N, K).
    ``progress`` gets each epoch's row (epoch, train_loss, val_loss, lr, elapsed_s); raising
    KeyboardInterrupt there (or Ctrl-C via ``stop``) saves the checkpoint and raises
    :class:`FitInterrupted`."""
    _check_arrays(x_train, z_train, "training set")
    _check_arrays(x_val, z_val, "validation set")
    if x_train.shape[1] != model_cfg.n_inputs or z_train.shape[1] != model_cfg.n_outputs:
        raise ValueError(
            f"data (T={x_train.shape[1]}, K={z_train.shape[1]}) does not match the regressor "
            f"(n_inputs={model_cfg.n_inputs}, n_outputs={model_cfg.n_outputs})"
        )
    device = resolve_device(fit_cfg.device)
    torch.manual_seed(fit_cfg.seed)
    model = InverseCNN(model_cfg)
    model.set_input_scaling(float(x_train.mean()), float(x_train.std()) or 1.0)
    model.to(device)
    opt = _optimizer(model, fit_cfg)
    sched = _schedule(opt, fit_cfg)
    loss_fn = _loss_fn(fit_cfg.loss)
    gen = torch.Generator().manual_seed(fit_cfg.seed)
    xt = torch.as_tensor(np.asarray(x_train, np.float32))
    zt = torch.as_tensor(np.asarray(z_train, np.float32))
    xv = torch.as_tensor(np.asarray(x_val, np.float32))
    zv = torch.as_tensor(np.asarray(z_val, np.float32))

    epoch, best_val, best_epoch, elapsed0 = 0, math.inf, 0, 0.0
    best_state: dict[str, Tensor] = copy.deepcopy(model.state_dict())
    history: list[dict[str, float]] = []
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.is_file():
        state = load_checkpoint(ckpt)
        if (
            state.get("model_config") != model_cfg.to_dict()
            or state.get("fit_config") != fit_cfg.to_dict()
        ):
            raise ValueError(f"{ckpt} was written with another configuration; remove it to restart")
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        epoch, best_val, best_epoch = state["epoch"], state["best_val"], state["best_epoch"]
        best_state, history, elapsed0 = state["best_state"], state["history"], state["elapsed_s"]
        log.info("resumed %s at epoch %d", ckpt, epoch)

    def save() -> None:
        if ckpt is None:
            return
        save_checkpoint(ckpt, {
            "model_config": model_cfg.to_dict(), "fit_config": fit_cfg.to_dict(),
            "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(), "epoch": epoch, "best_val": best_val,
            "best_epoch": best_epoch, "best_state": best_state, "history": history,
            "elapsed_s": elapsed0 + time.perf_counter() - t0,
        })  # fmt: skip

    t0 = time.perf_counter()
    stopped_by = "max_epochs"
    n = len(xt)
    while epoch < fit_cfg.max_epochs:
        if epoch - best_epoch >= fit_cfg.patience and epoch > 0:
            stopped_by = "early_stop"
            break
        elapsed = elapsed0 + time.perf_counter() - t0
        if fit_cfg.max_minutes is not None and elapsed >= 60 * fit_cfg.max_minutes:
            stopped_by = "max_minutes"
            break
        model.train()
        order = torch.randperm(n, generator=gen)
        total, count = 0.0, 0
        for i in range(0, n, fit_cfg.batch_size):
            idx = order[i : i + fit_cfg.batch_size]
            if len(idx) < 2 and n >= 2:
                continue  # a batch of one adds noise and nothing else
            xb, zb = xt[idx].to(device), zt[idx].to(device)
            loss = loss_fn(model(xb), zb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if fit_cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), fit_cfg.grad_clip)
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        model.eval()
        with torch.no_grad():
            pv = torch.as_tensor(predict_array(model, xv, device=str(device)))
            val = float(loss_fn(pv, zv))
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(val)
        else:
            sched.step()
        epoch += 1
        if val < best_val:
            best_val, best_epoch = val, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        row = {
            "epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val,
            "lr": opt.param_groups[0]["lr"], "elapsed_s": elapsed0 + time.perf_counter() - t0,
        }  # fmt: skip
        history.append(row)
        interrupted = stop is not None and stop.stop
        try:
            if progress is not None:
                progress(row)
        except KeyboardInterrupt:
            interrupted = True
        save()
        if interrupted:
            raise FitInterrupted(f"training interrupted at epoch {epoch}; rerun to resume")
    model.load_state_dict(best_state)
    model.to("cpu").eval()
    return FitResult(
        model=model, best_epoch=best_epoch, best_val=best_val, epochs=epoch,
        elapsed_s=elapsed0 + time.perf_counter() - t0, stopped_by=stopped_by, history=history,
    )  # fmt: skip
