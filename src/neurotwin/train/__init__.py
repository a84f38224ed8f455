"""Training of twins: one explicit loop (:func:`train`), its config, losses and checkpoints."""

from neurotwin.train.checkpoint import load_checkpoint, read_run_config
from neurotwin.train.config import TrainConfig
from neurotwin.train.loop import RunSummary, TrainEvent, TrainingInterrupted, train
from neurotwin.train.validation import validate

__all__ = [
    "RunSummary",
    "TrainConfig",
    "TrainEvent",
    "TrainingInterrupted",
    "load_checkpoint",
    "read_run_config",
    "train",
    "validate",
]
