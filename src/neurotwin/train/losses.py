"""Per-head training losses, in the learning units of :class:`~neurotwin.models.base.Scaling`.

spike: BCE on logits (optional ``pos_weight``); soma: L1; near_spike: BCE on logits;
inst_rate: MSE; dend: L1. Every loss is a mean over its elements; sums and element counts are
available for exact averages over many batches (validation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

LOSS_KINDS: dict[str, str] = {
    "spike": "bce",
    "soma": "l1",
    "near_spike": "bce",
    "inst_rate": "mse",
    "dend": "l1",
}


def head_loss_sums(
    outputs: dict[str, Tensor],
    targets: dict[str, Tensor],
    *,
    spike_pos_weight: float | None = None,
    lengths: Tensor | None = None,
) -> dict[str, tuple[Tensor, int]]:
    """(sum of the elementwise loss, element count) of every head present in both ``outputs``
    and ``targets`` (scaled). ``lengths`` (B,) masks right-padded bins."""
    out: dict[str, tuple[Tensor, int]] = {}
    for head, kind in LOSS_KINDS.items():
        if head not in outputs or head not in targets:
            continue
        y = outputs[head].float()  # (B, C_k, W)
        t = targets[head].to(y.device, torch.float32)
        if kind == "bce":
            pw = None
            if head == "spike" and spike_pos_weight is not None:
                pw = torch.tensor(spike_pos_weight, device=y.device)
            e = F.binary_cross_entropy_with_logits(y, t, pos_weight=pw, reduction="none")
        elif kind == "l1":
            e = (y - t).abs()
        else:
            e = (y - t).square()
        if lengths is None:
            out[head] = (e.sum(), e.numel())
        else:
            w = y.shape[-1]
            mask = torch.arange(w, device=y.device)[None, :] < lengths.to(y.device)[:, None]
            mask = mask[:, None, :].expand_as(e)  # (B, C_k, W)
            out[head] = (e[mask].sum(), int(mask.sum()))
    return out


def head_losses(
    outputs: dict[str, Tensor],
    targets: dict[str, Tensor],
    *,
    spike_pos_weight: float | None = None,
) -> dict[str, Tensor]:
    """Mean loss of every head present in both ``outputs`` and (scaled) ``targets``."""
    sums = head_loss_sums(outputs, targets, spike_pos_weight=spike_pos_weight)
    return {h: s / max(n, 1) for h, (s, n) in sums.items()}


def total_loss(losses: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """Weighted sum of the head losses (heads without a weight count 0)."""
    terms = [weights.get(h, 0.0) * v for h, v in losses.items()]
    if not terms:
        raise ValueError("no head has both an output and a target: nothing to train")
    return torch.stack(terms).sum()
