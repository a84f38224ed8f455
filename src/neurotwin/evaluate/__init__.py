"""Evaluation of trained twins: metric functions (:mod:`.metrics`), figures and the report
(:func:`evaluate` writes ``metrics.json`` and PNGs into the run folder)."""

from neurotwin.evaluate.metrics import (
    calibration,
    ideal_thresholds,
    partial_auc_mcclish,
    partial_auc_raw,
    per_sim_auc,
    regression_metrics,
    spike_auc,
    spike_metrics,
    tpr_at_fpr,
)
from neurotwin.evaluate.report import PROTOCOLS, EvalConfig, evaluate, key_metrics

__all__ = [
    "PROTOCOLS",
    "EvalConfig",
    "calibration",
    "evaluate",
    "ideal_thresholds",
    "key_metrics",
    "partial_auc_mcclish",
    "partial_auc_raw",
    "per_sim_auc",
    "regression_metrics",
    "spike_auc",
    "spike_metrics",
    "tpr_at_fpr",
]
