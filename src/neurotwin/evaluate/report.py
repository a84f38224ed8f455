"""Evaluate a trained run on a split: :func:`evaluate` writes ``metrics.json`` and figures.

Two protocols, both reported:

* ``tutorial`` — one window per simulation starting at a seeded random offset in 16–47 ms
  (``EvalConfig.tutorial_offset_ms``), as long as the training window (shortened at the end of
  the simulation); every bin of the window is scored.
* ``beniaguev`` (Beniaguev, Segev & London 2021) — the twin runs on whole simulations; the first
  500 ms are dropped and only simulations with 0–24 spikes in the remaining part are kept. Soma
  metrics use the capped soma voltage (spikes removed by the cap), as in the paper.

Soma and dendritic metrics compare the predicted voltage (mV) with the stored capped targets;
instantaneous rates are compared in Hz.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neurotwin.data.store import open_dataset
from neurotwin.data.windows import FixedWindows, available_targets, collate_padded
from neurotwin.evaluate import metrics as M
from neurotwin.evaluate.figures import plot_auc_hist, plot_prediction, plot_roc, save_figure
from neurotwin.models.base import Twin
from neurotwin.train.checkpoint import load_checkpoint, plain, read_run_config, write_json
from neurotwin.train.device import resolve_device
from neurotwin.train.loop import model_from_spec

log = logging.getLogger(__name__)

PROTOCOLS = ("tutorial", "beniaguev")
Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class EvalConfig:
    """Protocol settings of :func:`evaluate`."""

    seed: int = 0  # draws the tutorial window offsets
    tutorial_offset_ms: tuple[int, int] = (16, 47)  # inclusive range of window starts
    window_ms: int | None = None  # tutorial window length; None: the run's training window
    beniaguev_ignore_ms: int = 500
    beniaguev_spike_range: tuple[int, int] = (0, 24)  # inclusive, spikes in the scored part
    fprs: tuple[float, ...] = (0.002, 0.001)
    partial_fpr: float = 0.01
    calibration_bins: int = 8
    batch_size: int = 16
    device: str = "auto"
    num_examples: int = 3
    protocols: tuple[str, ...] = field(default=PROTOCOLS)

    def __post_init__(self) -> None:
        lo, hi = self.tutorial_offset_ms
        if not 0 <= lo <= hi:
            raise ValueError(f"tutorial_offset_ms must be 0 <= lo <= hi, got {(lo, hi)}")
        if self.window_ms is not None and self.window_ms < 1:
            raise ValueError(f"window_ms must be >= 1, got {self.window_ms}")
        if self.beniaguev_ignore_ms < 0:
            raise ValueError(f"beniaguev_ignore_ms must be >= 0, got {self.beniaguev_ignore_ms}")
        a, b = self.beniaguev_spike_range
        if not 0 <= a <= b:
            raise ValueError(f"beniaguev_spike_range must be 0 <= lo <= hi, got {(a, b)}")
        for f in (*self.fprs, self.partial_fpr):
            if not 0 < f <= 1:
                raise ValueError(f"false-positive rates must be in (0, 1], got {f}")
        if self.calibration_bins < 1:
            raise ValueError(f"calibration_bins must be >= 1, got {self.calibration_bins}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        unknown = set(self.protocols) - set(PROTOCOLS)
        if unknown or not self.protocols:
            raise ValueError(f"protocols must be among {PROTOCOLS}, got {self.protocols}")


def checkpoint_path(run_dir: Path, checkpoint: str) -> Path:
    """``best`` / ``last`` → the run's checkpoint; anything else is a path."""
    if checkpoint in ("best", "last"):
        return run_dir / "checkpoints" / f"{checkpoint}.pt"
    return Path(checkpoint)


def load_twin(path: Path, device: torch.device) -> tuple[Twin, dict[str, Any]]:
    state = load_checkpoint(path, map_location="cpu")
    model = model_from_spec(state["model_spec"])
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval(), state


@torch.no_grad()
def predict(
    model: Twin, windows: FixedWindows, batch_size: int, device: torch.device
) -> tuple[list[Arrays], list[Arrays]]:
    """Predictions (physical units) and raw targets of every window: per item, dicts of
    (C_k, L) arrays."""
    preds: list[Arrays] = []
    targets: list[Arrays] = []
    for idx in windows.batches(batch_size):
        x, t, lengths = collate_padded([windows[i] for i in idx])
        out = model.predict(x.to(device))
        for b, n in enumerate(lengths.tolist()):
            preds.append({h: v[b, :, :n].float().cpu().numpy() for h, v in out.items()})
            targets.append({h: v[b, :, :n].numpy() for h, v in t.items()})
    return preds, targets


def score(preds: list[Arrays], targets: list[Arrays], cfg: EvalConfig) -> dict[str, Any]:
    """Every metric of one protocol over the (already cropped) windows."""
    heads = set(preds[0]) & set(targets[0]) if preds else set()
    out: dict[str, Any] = {
        "num_sims": len(preds),
        "num_bins": int(sum(t["spike"].shape[-1] for t in targets)) if "spike" in heads else None,
        "spike": None,
        "per_sim_auc": None,
        "calibration": None,
        "soma": None,
        "dend": None,
        "inst_rate": None,
    }
    if not preds:
        return out
    if "spike" in heads:
        y_rows = [t["spike"][0] for t in targets]
        p_rows = [p["spike"][0] for p in preds]
        y, p = np.concatenate(y_rows), np.concatenate(p_rows)
        out["num_spikes"] = int(y.sum())
        out["spike"] = M.spike_metrics(y, p, fprs=cfg.fprs, partial_fpr=cfg.partial_fpr)
        aucs = M.per_sim_auc(y_rows, p_rows)
        ok = aucs[np.isfinite(aucs)]
        out["per_sim_auc"] = {
            "num_scored": int(ok.size),
            "mean": float(ok.mean()) if ok.size else None,
            "median": float(np.median(ok)) if ok.size else None,
            "min": float(ok.min()) if ok.size else None,
            "values": aucs.tolist(),
        }
        if min(len(r) for r in y_rows) >= cfg.calibration_bins:
            out["calibration"] = M.calibration(y_rows, p_rows, bins=cfg.calibration_bins)
    for head, unit, scale in (("soma", "mV", 1.0), ("dend", "mV", 1.0), ("inst_rate", "Hz", 1e3)):
        if head in heads:
            t = np.concatenate([x[head].ravel() for x in targets])
            p = np.concatenate([x[head].ravel() for x in preds])
            out[head] = {**M.regression_metrics(t, p, scale=scale), "unit": unit}
    return out


def _tutorial(
    model: Twin,
    store: Any,
    split: str,
    heads: list[str],
    window_ms: int,
    cfg: EvalConfig,
    device: torch.device,
) -> tuple[dict[str, Any], list[Arrays], list[Arrays], list[int]]:
    n = int(store.split(split).num_done)
    t_ms = int(store.config.duration_ms)
    lo, hi = cfg.tutorial_offset_ms
    if lo >= t_ms:
        raise ValueError(f"tutorial offsets start at {lo} ms, beyond the {t_ms} ms simulations")
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(0,)))
    starts = np.minimum(rng.integers(lo, hi + 1, size=n), t_ms - 1).tolist()
    windows = FixedWindows(store, split, window_ms=window_ms, starts=starts, targets=heads)
    preds, targets = predict(model, windows, cfg.batch_size, device)
    res = score(preds, targets, cfg)
    res["window_ms"] = min(window_ms, t_ms)
    res["offsets_ms"] = [int(s) for s in starts]
    return res, preds, targets, [int(s) for s in starts]


def _beniaguev(
    model: Twin, store: Any, split: str, heads: list[str], cfg: EvalConfig, device: torch.device
) -> tuple[dict[str, Any], list[Arrays], list[Arrays], list[int]]:
    t_ms = int(store.config.duration_ms)
    ignore = cfg.beniaguev_ignore_ms
    lo, hi = cfg.beniaguev_spike_range
    info = {"ignore_ms": ignore, "spike_range": [lo, hi]}
    if t_ms <= ignore:
        log.warning("beniaguev protocol skipped: %d ms simulations, %d ms dropped", t_ms, ignore)
        return {**score([], [], cfg), **info, "skipped": f"simulations of {t_ms} ms"}, [], [], []
    windows = FixedWindows(store, split, window_ms=t_ms, starts=0, targets=heads)
    preds, targets = predict(model, windows, cfg.batch_size, device)
    preds = [{h: v[:, ignore:] for h, v in p.items()} for p in preds]
    targets = [{h: v[:, ignore:] for h, v in t.items()} for t in targets]
    if "spike" in heads:
        counts = [int(t["spike"].sum()) for t in targets]
        keep = [i for i, c in enumerate(counts) if lo <= c <= hi]
        preds, targets = [preds[i] for i in keep], [targets[i] for i in keep]
    res = score(preds, targets, cfg)
    res.update(info, num_sims_dropped=len(windows) - len(preds))
    return res, preds, targets, [ignore] * len(preds)


def _figures(
    name: str,
    res: dict[str, Any],
    preds: list[Arrays],
    targets: list[Arrays],
    starts: list[int],
    out_dir: Path,
    cfg: EvalConfig,
) -> list[Path]:
    written: list[Path] = []
    if res.get("spike") is None or not preds:
        return written
    y = np.concatenate([t["spike"][0] for t in targets])
    p = np.concatenate([q["spike"][0] for q in preds])
    if M.spike_auc(y, p) == M.spike_auc(y, p):  # not nan: both classes present
        fpr, tpr, thr = M.roc(y, p)
        marks = {f"FPR {f:g}": f for f in cfg.fprs}
        for log_x in (False, True):
            ax = plot_roc(fpr, tpr, thr, log_x=log_x, marks=marks)
            ax.set_title(f"{name}: AUC {res['spike']['auc']:.4f}", fontsize="small")
            suffix = "_logx" if log_x else ""
            written.append(save_figure(ax.figure, out_dir / f"{name}_roc{suffix}.png"))
    ax = plot_auc_hist(np.array(res["per_sim_auc"]["values"], dtype=float))
    written.append(save_figure(ax.figure, out_dir / f"{name}_auc_hist.png"))
    order = [i for i, t in enumerate(targets) if t["spike"].sum() > 0] + [
        i for i, t in enumerate(targets) if t["spike"].sum() == 0
    ]
    chosen = order[: cfg.num_examples]
    has_soma = "soma" in preds[0] and "soma" in targets[0]
    rows = 2 if has_soma else 1
    fig = Figure(figsize=(11, 1.7 * rows * len(chosen) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows * len(chosen), 1, squeeze=False)[:, 0]
    for k, i in enumerate(chosen):
        plot_prediction(
            targets[i]["spike"][0],
            preds[i]["spike"][0],
            targets[i]["soma"][0] if has_soma else None,
            preds[i]["soma"][0] if has_soma else None,
            t0_ms=starts[i],
            axes=axes[rows * k : rows * (k + 1)],
        )
        axes[rows * k].set_title(f"simulation {i}", fontsize="small", loc="left")
    fig.suptitle(f"{name}: true vs predicted")
    written.append(save_figure(fig, out_dir / f"{name}_traces.png"))
    return written


def _clean(obj: Any) -> Any:
    """nan/inf → None, recursively (strict JSON)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def evaluate(
    run_dir: str | Path,
    split: str = "test",
    checkpoint: str = "best",
    *,
    config: EvalConfig | None = None,
    figures: bool = True,
    data_path: str | Path | None = None,
) -> dict[str, Any]:
    """Score a run's checkpoint (``best``, ``last`` or a path) on ``split`` of its dataset (or of
    ``data_path``, which must hold data of the same config). Writes
    ``<run_dir>/evaluate/<split>/metrics.json`` (``<split>-<checkpoint>`` for another checkpoint
    than ``best``) and PNG figures beside it; returns the metrics."""
    cfg = config or EvalConfig()
    run_dir = Path(run_dir)
    run_cfg = read_run_config(run_dir)
    store = open_dataset(data_path or run_cfg["data"]["path"])
    if store.meta["config_hash"] != run_cfg["data"]["config_hash"]:
        raise ValueError(
            f"dataset {store.path} (config {store.meta['config_hash']}) is not the one the run "
            f"was trained on (config {run_cfg['data']['config_hash']})"
        )
    device = resolve_device(cfg.device)
    ckpt = checkpoint_path(run_dir, checkpoint)
    model, state = load_twin(ckpt, device)
    heads = [h for h in model.config.heads if h in available_targets(store)]
    window_ms = cfg.window_ms or int(run_cfg["train"]["window_ms"])
    tag = split if checkpoint == "best" else f"{split}-{Path(checkpoint).stem}"
    out_dir = run_dir / "evaluate" / tag
    result: dict[str, Any] = {
        "run_dir": str(run_dir),
        "split": split,
        "checkpoint": {"name": checkpoint, "path": str(ckpt), "step": int(state["step"])},
        "model": {
            "name": state["model_spec"].get("name"),
            "num_params": model.num_params,
            "receptive_field_ms": model.receptive_field_ms,
            "heads": list(model.config.heads),
        },
        "data": {
            "path": str(store.path),
            "config_hash": store.meta["config_hash"],
            "cell": store.config.cell.name,
        },
        "eval_config": plain(cfg.__dict__),
        "protocols": {},
        "figures": [],
    }
    for name in cfg.protocols:
        if name == "tutorial":
            res, preds, targets, starts = _tutorial(
                model, store, split, heads, window_ms, cfg, device
            )
        else:
            res, preds, targets, starts = _beniaguev(model, store, split, heads, cfg, device)
        result["protocols"][name] = res
        if figures:
            paths = _figures(name, res, preds, targets, starts, out_dir, cfg)
            result["figures"] += [str(p.relative_to(run_dir)) for p in paths]
    result = _clean(plain(result))
    write_json(out_dir / "metrics.json", result)
    return result


def key_metrics(result: dict[str, Any]) -> list[str]:
    """A few human-readable lines of the headline metrics of every protocol."""
    lines = []
    for name, res in result["protocols"].items():
        parts = [f"{name}: {res['num_sims']} sims"]
        s = res.get("spike")
        if s:
            parts.append(f"AUC {_f(s['auc'])}")
            for k in (k for k in s if k.startswith("tpr_at_fpr_")):
                parts.append(f"TPR@FPR={k.removeprefix('tpr_at_fpr_')} {_f(s[k])}")
            pk = next((k for k in s if k.endswith("_mcclish")), None)
            if pk:
                parts.append(f"pAUC(McClish) {_f(s[pk])}")
        if res.get("soma"):
            v = res["soma"]
            parts.append(
                f"soma EV {_f(v['explained_variance'])} RMSE {_f(v['rmse'], 3)} mV "
                f"MAE {_f(v['mae'], 3)} mV"
            )
        if res.get("calibration"):
            parts.append(f"rate r {_f(res['calibration']['pearson_r'])}")
        lines.append(", ".join(parts))
    return lines


def _f(v: float | None, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"
