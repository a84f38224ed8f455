"""Run-folder bookkeeping of one training run: the resolved config, metrics.csv, TensorBoard."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from neurotwin.train.checkpoint import (
    CONFIG_NAME,
    atomic_write_text,
    config_differences,
    read_run_config,
    write_run_config,
)

log = logging.getLogger(__name__)

LAST = "checkpoints/last.pt"
BEST = "checkpoints/best.pt"
METRICS = "metrics.csv"


def prepare_run_dir(run_dir: Path, resolved: dict[str, Any]) -> bool:
    """Create ``run_dir`` for a new run, or check that it holds the same run. Returns True when
    there is a checkpoint to resume from. Raises ValueError listing the differences when the
    folder holds a run with another config."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir} exists and is not a folder")
    if (run_dir / CONFIG_NAME).is_file():
        stored = read_run_config(run_dir)
        diffs = config_differences(stored, resolved)
        if diffs:
            shown = "; ".join(diffs[:6]) + (
                f"; and {len(diffs) - 6} more" if len(diffs) > 6 else ""
            )
            raise ValueError(
                f"{run_dir} holds a run with another config ({shown}); "
                "use another output folder or the same options to resume"
            )
        if stored.get("data", {}).get("path") != resolved["data"]["path"]:
            log.warning(
                "dataset moved: %s → %s (same config hash)",
                stored["data"]["path"],
                resolved["data"]["path"],
            )
        write_run_config(run_dir, resolved)  # refresh versions, device, data path
        return (run_dir / LAST).is_file()
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"--out {run_dir} is not empty and holds no run ({CONFIG_NAME} missing)")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_config(run_dir, resolved)
    return False


class MetricsLog:
    """metrics.csv (fixed columns, one row per logged step, flushed at once) and TensorBoard.

    Opening for a resume at ``step`` drops the rows logged after that step (they were logged
    after the checkpoint and will be logged again); TensorBoard events after it are purged.
    """

    def __init__(
        self, run_dir: Path, columns: list[str], resume_step: int | None, tensorboard: bool
    ) -> None:
        self.path = run_dir / METRICS
        self.columns = columns
        kept: list[dict[str, str]] = []
        if resume_step is not None and self.path.is_file():
            with open(self.path, newline="") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames != columns:
                    log.warning("metrics.csv has other columns; starting it anew")
                else:
                    kept = [r for r in reader if int(r["step"]) <= resume_step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(self.path, buf.getvalue())
        self._fh = open(self.path, "a", newline="")  # noqa: SIM115 - closed in close()
        self._writer = csv.DictWriter(self._fh, fieldnames=columns)
        self.tb: Any = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(
                log_dir=str(run_dir / "tb"),
                purge_step=None if resume_step is None else resume_step + 1,
            )

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow({c: _fmt(row.get(c)) for c in self.columns})
        self._fh.flush()
        if self.tb is not None:
            step = int(row["step"])
            for key, value in row.items():
                if key == "step" or value is None:
                    continue
                group = "val" if key.startswith("val_") else "train"
                name = key[4:] if group == "val" else key
                self.tb.add_scalar(f"{group}/{name}", float(value), step)

    def close(self) -> None:
        self._fh.close()
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
