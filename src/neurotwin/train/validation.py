"""Validation on fixed windows: per-head losses and the pooled spike ROC AUC."""

from __future__ import annotations

import math

import numpy as np
import torch

from neurotwin.data.windows import FixedWindows, collate_padded
from neurotwin.models.base import Twin
from neurotwin.train.device import autocast
from neurotwin.train.losses import head_loss_sums


@torch.no_grad()
def validate(
    model: Twin,
    windows: FixedWindows,
    *,
    batch_size: int,
    weights: dict[str, float],
    device: torch.device,
    dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Mean loss of every head over the fixed windows (spike BCE without pos_weight), their
    weighted sum ``val_loss`` and the pooled spike ROC AUC ``val_spike_auc``."""
    from sklearn.metrics import roc_auc_score

    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    scores: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    try:
        for idx in windows.batches(batch_size):
            x, t, lengths = collate_padded([windows[i] for i in idx])
            with autocast(device, dtype):
                out = model(x.to(device))
            st = model.scaling.scale_targets(t)
            for head, (s, n) in head_loss_sums(out, st, lengths=lengths).items():
                sums[head] = sums.get(head, 0.0) + float(s)
                counts[head] = counts.get(head, 0) + n
            if "spike" in out and "spike" in t:
                for b, n in enumerate(lengths.tolist()):
                    scores.append(out["spike"][b, 0, :n].float().cpu().numpy())
                    labels.append(t["spike"][b, 0, :n].numpy())
    finally:
        model.train(was_training)
    res = {f"val_{h}": sums[h] / max(counts[h], 1) for h in sums}
    res["val_loss"] = sum(weights.get(h, 0.0) * res[f"val_{h}"] for h in sums)
    if scores:
        y, p = np.concatenate(labels), np.concatenate(scores)
        res["val_spike_auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else math.nan
    return res
