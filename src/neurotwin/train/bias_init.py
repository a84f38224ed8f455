"""Output-bias initialisation: every head starts at the mean of its training target."""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from neurotwin.data.windows import RandomWindows
from neurotwin.models.base import Twin

log = logging.getLogger(__name__)

INIT_BIAS_WINDOWS = 64


def head_bias_values(windows: RandomWindows, model: Twin) -> dict[str, Tensor]:
    """Per head channel, the output that fits the training data on average (learning units):
    the log-odds of the spike / near-spike rate, the mean of the scaled soma, rate and dendritic
    targets; from the first ``INIT_BIAS_WINDOWS`` windows of the training stream."""
    _, t = windows.batch(range(INIT_BIAS_WINDOWS))
    out: dict[str, Tensor] = {}
    for head, y in model.scaling.scale_targets(t).items():
        mean = y.mean(dim=(0, 2))  # (C_k,)
        if head in ("spike", "near_spike"):
            p = mean.clamp(1e-5, 0.5)
            mean = torch.log(p / (1 - p))
        out[head] = mean
    return out


@torch.no_grad()
def init_head_bias(model: Twin, values: dict[str, Tensor]) -> bool:
    """Start every head's output at ``values`` (see :func:`head_bias_values`), so that training
    does not spend its first hundreds of steps learning the base rates (with a spike rate of
    ~0.5 %, a logit starting at 0 drives every input weight down at once under Adam). Uses the
    twin's ``init_head_bias(values)`` when it has one, else the bias of its single
    :class:`~neurotwin.models.layers.Heads` projection; returns False (and changes nothing)
    when the twin has neither."""
    method = getattr(model, "init_head_bias", None)
    if callable(method):
        method(values)
        return True
    from neurotwin.models.layers import Heads

    heads = [m for m in model.modules() if isinstance(m, Heads)]
    if len(heads) != 1 or heads[0].proj.bias is None:
        log.info("%s: no output bias to initialise", type(model).__name__)
        return False
    h = heads[0]
    chunks = torch.split(h.proj.bias, h.sizes)
    for name, chunk in zip(h.names, chunks, strict=True):
        if name in values:
            chunk.copy_(values[name].to(chunk))
    return True
