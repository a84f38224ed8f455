"""The demo: small datasets for both presets, their statistics, figures and a markdown report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from neurotwin.data.generate import make_dataset
from neurotwin.data.info import dataset_figures, dataset_stats
from neurotwin.data.store import open_dataset

PRESETS = ("point_ampa", "cable_nmda")


def run_demo(
    out: str | Path,
    *,
    train: int = 16,
    valid: int = 4,
    test: int = 4,
    duration_ms: int = 2048,
    workers: int | None = None,
    seed: int = 0,
    echo: Callable[[str], None] = print,
) -> Path:
    """Make (or resume) one dataset per preset under ``out/data``, figures under
    ``out/figures/<preset>``, and ``out/REPORT.md``. Returns the report path."""
    from neurotwin.data.config import build_dataset_config

    out = Path(out)
    rows = []
    for name in PRESETS:
        config = build_dataset_config(
            name,
            {},
            None,
            {},
            {"train": train, "valid": valid, "test": test},
            duration_ms,
            seed,
            {},
        )
        path = out / "data" / name
        total = sum(config.counts.values())
        with tqdm(total=total, unit="sim", desc=name, dynamic_ncols=True) as bar:
            start = time.perf_counter()
            report = make_dataset(
                config, path, workers=workers, progress=lambda n, _t, bar=bar: bar.update(n)
            )
            wall = time.perf_counter() - start
        store = open_dataset(path)
        stats = dataset_stats(store)
        figs = dataset_figures(store, out / "figures" / name)
        rows.append((name, config, report.simulated, wall, stats, figs))
        echo(f"{name}: {report.simulated} simulations in {wall:.1f} s → {path}")
    report_path = out / "REPORT.md"
    tmp = report_path.with_suffix(".md.partial")
    tmp.write_text(_markdown(rows, out))
    tmp.replace(report_path)
    return report_path


def _markdown(rows: list, out: Path) -> str:
    lines = [
        "# neurotwin demo",
        "",
        "Small datasets of both ball-and-stick presets under the `tutorial` inputs, made by "
        "`neurotwin demo` (`make demo`).",
        "",
        "| preset | simulations | ms each | simulated now | wall (s) | sim ms / wall s | "
        "rate Hz (test mean) | soma mV (test mean ± sd) | dropped |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, config, simulated, wall, stats, _ in rows:
        total = sum(config.counts.values())
        t = stats["test"]
        dropped = sum(sum(stats[s]["dropped"].values()) for s in ("train", "valid", "test"))
        speed = simulated * config.duration_ms / wall if simulated and wall > 0 else float("nan")
        rate = f"{t['rate_hz']['mean']:.2f}" if t["done"] else "-"
        soma = f"{t['soma_mV']['mean']:.1f} ± {t['soma_mV']['std']:.1f}" if t["done"] else "-"
        lines.append(
            f"| {name} | {total} | {config.duration_ms} | {simulated} | {wall:.1f} | "
            f"{speed:.0f} | {rate} | {soma} | {dropped} |"
        )
    for name, config, _, _, _, figs in rows:
        lines += [
            "",
            f"## {name}",
            "",
            "```json",
            json.dumps(config.cell.to_dict(), indent=1),
            "```",
            "",
        ]
        lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in figs]
    return "\n".join(lines) + "\n"
