"""``neurotwin train`` and ``neurotwin evaluate``: the command-line face of
:func:`neurotwin.train.train` and :func:`neurotwin.evaluate.evaluate`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from neurotwin.commands.common import friendly, parse_sets

__all__ = ["register"]


def _fmt_s(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class _Bar:
    """A tqdm bar fed by the training progress callback: steps when the budget is in steps,
    else per-mille of the time budget; postfix loss, validation, steps/s, ETA."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.loss: float | None = None
        self.first: tuple[int, float] | None = None

    def __call__(self, ev: Any) -> None:
        from tqdm import tqdm

        if self.bar is None:
            total = ev.total_steps if ev.total_steps is not None else 1000
            unit = "step" if ev.total_steps is not None else "‰"
            self.bar = tqdm(total=total, unit=unit, disable=self.quiet, dynamic_ncols=True)
            self.first = (ev.step - 1, ev.elapsed_s)
        if math.isfinite(ev.loss):
            self.loss = ev.loss if self.loss is None else 0.95 * self.loss + 0.05 * ev.loss
        n = ev.step if ev.total_steps is not None else int(1000 * ev.progress)
        self.bar.update(max(n - self.bar.n, 0))
        post: dict[str, str] = {}
        if self.loss is not None:
            post["loss"] = f"{self.loss:.4f}"
        if ev.val:
            key = "val_spike" if "val_spike" in ev.val else "val_loss"
            post["val"] = f"{ev.val[key]:.4f}"
            if "val_spike_auc" in ev.val and ev.val["val_spike_auc"] == ev.val["val_spike_auc"]:
                post["auc"] = f"{ev.val['val_spike_auc']:.4f}"
        assert self.first is not None
        dt = ev.elapsed_s - self.first[1]
        if dt > 0:
            post["steps/s"] = f"{(ev.step - self.first[0]) / dt:.2f}"
        post["eta"] = _fmt_s(ev.eta_s)
        self.bar.set_postfix(post, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _train(
    data: Path,
    model: str,
    preset: str | None,
    out: Path,
    sets: list[str] | None,
    train_sets: list[str] | None,
    max_minutes: float | None,
    epochs: float | None,
    steps: int | None,
    seed: int | None,
    device: str | None,
    quiet: bool,
) -> None:
    from neurotwin.train import train

    train_overrides = parse_sets(train_sets, "--train-set")
    for key, value in (
        ("max_minutes", max_minutes),
        ("epochs", epochs),
        ("steps", steps),
        ("seed", seed),
        ("device", device),
    ):
        if value is not None:
            train_overrides[key] = value
    bar = _Bar(quiet)
    try:
        summary = train(data, model, preset, out, parse_sets(sets), train_overrides, progress=bar)
    finally:
        bar.close()
    best = "n/a" if summary.best_value is None else f"{summary.best_value:.5f}"
    auc = (summary.last_val or {}).get("val_spike_auc")
    typer.echo(
        f"{out}: {summary.steps} steps ({summary.epochs:.1f} epochs) in "
        f"{_fmt_s(summary.elapsed_s)}, stopped by {summary.stopped_by}; best {summary.best_metric} "
        f"{best} at step {summary.best_step}"
        + (f"; last val AUC {auc:.4f}" if auc is not None and auc == auc else "")
    )
    typer.echo(f"next: neurotwin evaluate {out}")


def _evaluate(
    run_dir: Path, split: str, checkpoint: str, figures: bool, as_json: bool, seed: int
) -> None:
    from neurotwin.evaluate import EvalConfig, evaluate, key_metrics

    result = evaluate(run_dir, split, checkpoint, config=EvalConfig(seed=seed), figures=figures)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    ck = result["checkpoint"]
    typer.echo(
        f"{run_dir} ({result['model']['name']}, {result['model']['num_params']:,} params), "
        f"{ck['name']} checkpoint at step {ck['step']}, {split} split:"
    )
    for line in key_metrics(result):
        typer.echo(f"  {line}")
    out = "evaluate/" + (split if checkpoint == "best" else f"{split}-{Path(checkpoint).stem}")
    typer.echo(f"wrote {run_dir / out / 'metrics.json'} and {len(result['figures'])} figures")


def register(app: typer.Typer) -> None:
    """Add the ``train`` and ``evaluate`` commands to ``app``."""

    @app.command("train")
    def train_cmd(
        data: Annotated[Path, typer.Option(help="Dataset folder (`neurotwin dataset make`).")],
        model: Annotated[str, typer.Option(help="Twin name (see `neurotwin models`).")],
        out: Annotated[Path, typer.Option(help="Run folder; rerun to resume.")],
        preset: Annotated[str | None, typer.Option(help="Twin preset, e.g. A–E for tcn.")] = None,
        set_: Annotated[
            list[str] | None, typer.Option("--set", help="Model config override KEY=VALUE.")
        ] = None,
        train_set: Annotated[
            list[str] | None,
            typer.Option(
                "--train-set", help="Train config override KEY=VALUE (loss_weights.soma=0.1)."
            ),
        ] = None,
        max_minutes: Annotated[
            float | None, typer.Option(help="Wall-time budget (minutes).")
        ] = None,
        epochs: Annotated[
            float | None, typer.Option(help="Budget in epochs (one window per train sim).")
        ] = None,
        steps: Annotated[int | None, typer.Option(help="Budget in optimizer steps.")] = None,
        seed: Annotated[int | None, typer.Option(help="Random seed (default 0).")] = None,
        device: Annotated[
            str | None, typer.Option(help="auto (CUDA if present, else CPU), cpu, cuda[:N].")
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Train a twin on a dataset; the first budget reached (minutes, epochs, steps) stops it.
        With no budget given, 100 epochs."""
        friendly(_train)(
            data,
            model,
            preset,
            out,
            set_,
            train_set,
            max_minutes,
            epochs,
            steps,
            seed,
            device,
            quiet,
        )

    @app.command("evaluate")
    def evaluate_cmd(
        run_dir: Annotated[Path, typer.Argument(help="Run folder made by `neurotwin train`.")],
        split: Annotated[str, typer.Option(help="Dataset split: train, valid or test.")] = "test",
        checkpoint: Annotated[str, typer.Option(help="best, last or a checkpoint path.")] = "best",
        figures: Annotated[bool, typer.Option(help="Write PNG figures.")] = True,
        seed: Annotated[int, typer.Option(help="Seed of the tutorial window offsets.")] = 0,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print every metric as JSON.")
        ] = False,
    ) -> None:
        """Score a trained twin (tutorial and Beniaguev protocols); write metrics.json and
        figures into RUN_DIR/evaluate/SPLIT."""
        friendly(_evaluate)(run_dir, split, checkpoint, figures, as_json, seed)
