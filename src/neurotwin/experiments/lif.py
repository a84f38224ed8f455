"""The LIF study (Beniaguev et al. 2021, Fig. 1): a neuron that one linear filter explains.

The leaky integrate-and-fire cell (``lif`` preset: 80 excitatory and 20 inhibitory inputs, each
event filtered by ``gain_mV · exp(−d / tau_ms)``, summed, thresholded) is, below threshold, a
linear filter of its input. Its twins: the single linear filter (``linear``, one causal
convolution to a spike logit) and a deep TCN for comparison, trained and scored alike. The
learned filter is read back (``filter_kernel()``: per raw input, lag on the time axis),
averaged over the excitatory and over the inhibitory inputs, and compared with the cell's own
kernel (read from the dataset's stored cell config): the Pearson correlation of each mean
filter with ``exp(−d / tau_ms)`` (positive for excitation, negative for inhibition), a
least-squares factor that puts the learned filter into mV, and the time constant of an
exponential fitted to it. An untrained linear twin of the same config is the negative control.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from neurotwin.experiments.common import (
    BarFactory,
    DataSpec,
    RunSpec,
    ensure_dataset,
    headline,
    load_scale,
    no_bar,
    train_and_evaluate,
    write_report,
    write_table,
)
from neurotwin.experiments.complexity import TCN_CONFIGS
from neurotwin.train.checkpoint import atomic_write_text, write_json

__all__ = ["LIF_DATA", "compare_kernels", "fit_tau_ms", "run_lif", "true_kernel"]

LIF_DATA = DataSpec("lif", "lif", label="LIF point neuron (80 excitatory, 20 inhibitory inputs)")
TAU_GRID_MS = np.arange(1.0, 200.5, 0.5)
SHAPE_R = 0.5  # |r| a learned filter must pass to count as the kernel's shape


def true_kernel(cell: Any, length_ms: int) -> np.ndarray:
    """The LIF cell's voltage kernel per weight-1 event in mV on lags ``0 … length_ms − 1``:
    ``gain_mV · exp(−d / tau_ms)`` for ``d < kernel_len``, zero beyond (its own constants)."""
    d = np.arange(int(length_ms), dtype=float)
    k = float(cell.gain_mV) * np.exp(-d / float(cell.tau_ms))
    k[int(cell.kernel_len) :] = 0.0
    return k


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else None


def fit_tau_ms(kernel: np.ndarray, grid: np.ndarray = TAU_GRID_MS) -> float | None:
    """The time constant (ms) of the exponential ``a · exp(−d / τ)`` (any sign of ``a``) that
    fits ``kernel`` (lags in ms) best in least squares, over ``grid``; None for a zero kernel."""
    y = np.asarray(kernel, dtype=float)
    if not np.any(y):
        return None
    d = np.arange(y.size, dtype=float)
    basis = np.exp(-d[None, :] / grid[:, None])  # (G, L)
    a = basis @ y / (basis * basis).sum(axis=1)  # (G,) best amplitude per τ
    err = ((y[None, :] - a[:, None] * basis) ** 2).sum(axis=1)
    return float(grid[int(np.argmin(err))])


def compare_kernels(learned: np.ndarray, cell: Any) -> dict[str, Any]:
    """Compare a learned linear filter ``learned`` (in_channels, L) (lag axis, excitatory rows
    first, as ``LinearTwin.filter_kernel()`` returns it) with the cell's kernel.

    Returns the lags, the true kernels in mV (``true_exc_mV`` positive, ``true_inh_mV``
    negative), the learned means and s.d. over the excitatory and the inhibitory inputs (learned
    units), ``r_exc``/``r_inh``: their correlations with ``exp(−d / tau_ms)`` (r_inh is
    negative for a filter of the right shape), ``scale``: the least-squares factor with
    ``scale · learned ≈ true`` over both kinds at once (mV per learned unit), and the fitted
    time constants ``tau_exc_ms``/``tau_inh_ms`` against the cell's ``tau_ms``."""
    k = np.asarray(learned, dtype=float)
    n_exc, n_inh = int(cell.num_exc_inputs), int(cell.num_inh_inputs)
    if k.ndim != 2 or k.shape[0] != n_exc + n_inh:
        raise ValueError(f"learned filter must be ({n_exc + n_inh}, L), got shape {k.shape}")
    true = true_kernel(cell, k.shape[1])
    exc, inh = k[:n_exc], k[n_exc:]
    m_exc = exc.mean(axis=0)
    m_inh = inh.mean(axis=0) if n_inh else np.zeros(k.shape[1])
    both = np.concatenate([m_exc, m_inh])
    target = np.concatenate([true, -true if n_inh else np.zeros_like(true)])
    norm = float(both @ both)
    return {
        "lags_ms": np.arange(k.shape[1]).tolist(),
        "true_exc_mV": true.tolist(),
        "true_inh_mV": (-true).tolist(),
        "learned_exc": m_exc.tolist(),
        "learned_inh": m_inh.tolist(),
        "learned_exc_sd": exc.std(axis=0).tolist(),
        "learned_inh_sd": (inh.std(axis=0) if n_inh else np.zeros(k.shape[1])).tolist(),
        "r_exc": _corr(m_exc, true),
        "r_inh": _corr(m_inh, true) if n_inh else None,
        "scale": float(both @ target / norm) if norm > 0 else 0.0,
        "tau_exc_ms": fit_tau_ms(m_exc),
        "tau_inh_ms": fit_tau_ms(m_inh) if n_inh else None,
        "tau_ms": float(cell.tau_ms),
        "gain_mV": float(cell.gain_mV),
        "kernel_len_ms": int(cell.kernel_len),
    }


def passes(fit: dict[str, Any], threshold: float = SHAPE_R) -> bool:
    """The learned filter has the kernel's shape: excitatory r above ``threshold`` and
    inhibitory r below ``−threshold``."""
    r_e, r_i = fit.get("r_exc"), fit.get("r_inh")
    return r_e is not None and r_i is not None and r_e > threshold and r_i < -threshold


def untrained_control(model: Any, seed: int = 1) -> np.ndarray:
    """The filter of a fresh (untrained) twin of ``model``'s config and input scaling."""
    import torch

    from neurotwin import models

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        fresh = models.from_spec(model.spec())  # type: ignore[attr-defined]
    return fresh.filter_kernel()


def run_lif(
    scale: str = "demo",
    *,
    config: str | Path | None = None,
    results_root: str | Path = "results",
    data_root: str | Path = "data/studies",
    runs_root: str | Path = "runs/studies",
    workers: int | None = None,
    seed: int = 0,
    bar: BarFactory = no_bar,
    command: str | None = None,
) -> Path:
    """Run (or finish) the LIF study at ``scale``; returns the path of its REPORT.md."""
    from neurotwin.data.store import open_dataset
    from neurotwin.evaluate.figures import save_figure
    from neurotwin.plots.lif import lif_traces_figure, plot_filter_vs_kernel

    sc = load_scale("lif", scale, config)
    kernel_ms = sc.extra.get("linear_kernel_ms", 150)
    if not isinstance(kernel_ms, int) or kernel_ms < 1:
        raise ValueError(f"lif: linear_kernel_ms must be an int >= 1, got {kernel_ms!r}")
    tcn = str(sc.extra.get("tcn", "C"))
    if tcn not in TCN_CONFIGS:
        raise ValueError(f"lif: unknown TCN config {tcn!r}; valid: {TCN_CONFIGS}")
    figures = bool(sc.extra.get("run_figures", True))
    out = Path(results_root) / "lif" / scale
    data = ensure_dataset(LIF_DATA, sc, Path(data_root), seed=seed, workers=workers, bar=bar)
    cell = open_dataset(data).config.cell
    specs = (
        ("linear filter", RunSpec("linear", "linear", None, {"kernel_ms": kernel_ms}, "linear")),
        (f"TCN {tcn}", RunSpec(f"tcn_{tcn}", "tcn", tcn, key="tcn")),
    )
    rows, models_ = [], {}
    for label, spec in specs:
        run_dir = Path(runs_root) / "lif" / scale / spec.name
        res = train_and_evaluate(spec, data, run_dir, sc, bar=bar, figures=figures)
        h = headline(res)
        rows.append(
            {
                "twin": label,
                "model": spec.name,
                **{k: h[k] for k in ("params", "receptive_field_ms", "auc", "auc_beniaguev")},
                **{k: h[k] for k in ("soma_ev", "soma_rmse_mV", "steps", "train_min")},
            }
        )
        models_[label] = _load_best(run_dir)
    linear = models_["linear filter"]
    fit = compare_kernels(linear.filter_kernel("spike"), cell)
    control = compare_kernels(untrained_control(linear, seed + 1), cell)
    soma_lag0 = None
    if "soma" in linear.config.heads:
        soma_lag0 = float(linear.filter_kernel("soma")[: cell.num_exc_inputs, 0].mean())
    summary = {
        "fit": fit,
        "passes": passes(fit),
        "control": {k: control[k] for k in ("r_exc", "r_inh", "scale", "tau_exc_ms")},
        "control_passes": passes(control),
        "soma_kernel_lag0_mV": soma_lag0,
        "threshold_r": SHAPE_R,
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "filter.json", summary)
    table = write_table(rows, out / "table.csv")
    atomic_write_text(out / "table.md", table + "\n")
    figs = [
        save_figure(
            plot_filter_vs_kernel(fit, title="linear twin: learned filter vs LIF kernel").figure,
            out / "filter_vs_kernel.png",
        )
    ]
    example = _example(data, models_)
    if example is not None:
        fig = lif_traces_figure(example, title=f"LIF test simulation {example['index']}")
        figs.append(save_figure(fig, out / "traces.png"))
    text = _report(rows, table, summary, cell, figs, out, sc.name)
    command = command or f"neurotwin study lif --scale {scale}"
    return write_report(out / "REPORT.md", text, sc, command)


def _load_best(run_dir: Path) -> Any:
    import torch

    from neurotwin.evaluate.report import checkpoint_path, load_twin

    model, _ = load_twin(checkpoint_path(run_dir, "best"), torch.device("cpu"))
    return model


def _example(data: Path, twins: dict[str, Any], max_ms: int = 2000) -> dict[str, Any] | None:
    """The first test simulation with a spike (else the first), its first ``max_ms`` ms and
    every twin's predictions."""
    import torch

    from neurotwin.data.store import open_dataset

    store = open_dataset(data)
    done = np.flatnonzero(store.split("test").done_mask())
    if not done.size:
        return None
    rates = np.asarray(store.split("test")["rate_hz"][:])[done]
    index = int(done[np.flatnonzero(rates > 0)[0]] if np.any(rates > 0) else done[0])
    sample = store.load("test", index)
    x = sample["inputs"].astype(np.float32)  # (C, T)
    exc, inh = store.config.cell.unpack_inputs(x)
    with torch.no_grad():
        preds = {k: m.predict(torch.from_numpy(x)[None]) for k, m in twins.items()}
    n = min(max_ms, x.shape[-1])
    return {
        "index": index,
        "exc_events": exc.sum(axis=0)[:n],
        "inh_events": inh.sum(axis=0)[:n],
        "soma_mV": sample["soma"][:n],
        "spikes": sample["spikes"][:n],
        "soma_pred": {k: p["soma"][0, 0, :n].numpy() for k, p in preds.items() if "soma" in p},
        "p_spike": {k: p["spike"][0, 0, :n].numpy() for k, p in preds.items()},
    }


def _f(v: float | None, fmt: str = ".4f") -> str:
    return "–" if v is None or not math.isfinite(v) else format(v, fmt)


def findings(rows: list[dict[str, Any]], summary: dict[str, Any], cell: Any) -> list[str]:
    """Sentences that read the table and the filter comparison."""
    fit, ctl = summary["fit"], summary["control"]
    lin = next(r for r in rows if r["model"] == "linear")
    deep = [r for r in rows if r["model"] != "linear"]
    lines = [
        f"- The **linear filter** twin ({lin['params']:,} parameters, one "
        f"{lin['receptive_field_ms']} ms filter) reaches test AUC {_f(lin['auc'])} and soma "
        f"EV {_f(lin['soma_ev'])}."
    ]
    for r in deep:
        diff = (r["auc"] - lin["auc"]) if r["auc"] is not None and lin["auc"] is not None else None
        lines.append(
            f"- The deep **{r['twin']}** ({r['params']:,} parameters) reaches AUC {_f(r['auc'])} "
            f"and soma EV {_f(r['soma_ev'])} (ΔAUC vs linear {_f(diff, '+.4f')})."
        )
    verdict = "has" if summary["passes"] else "does **not** have"
    lines.append(
        f"- The learned filter {verdict} the kernel's shape: the mean excitatory filter "
        f"correlates with exp(−d/{cell.tau_ms:g} ms) at r = {_f(fit['r_exc'], '+.3f')}, the "
        f"mean inhibitory one at r = {_f(fit['r_inh'], '+.3f')} (negative: the mirrored "
        f"kernel); fitted τ = {_f(fit['tau_exc_ms'], '.1f')} ms (exc) and "
        f"{_f(fit['tau_inh_ms'], '.1f')} ms (inh) against the cell's {cell.tau_ms:g} ms; "
        f"least-squares factor {_f(fit['scale'], '.4g')} mV per logit unit."
    )
    lines.append(
        f"- Control: an untrained linear twin of the same config gives r = "
        f"{_f(ctl['r_exc'], '+.3f')} (exc) and {_f(ctl['r_inh'], '+.3f')} (inh), "
        f"{'passing' if summary['control_passes'] else 'failing'} the |r| > "
        f"{summary['threshold_r']} test that the trained filter "
        f"{'passes' if summary['passes'] else 'fails'}."
    )
    if summary.get("soma_kernel_lag0_mV") is not None:
        lines.append(
            f"- Read through the soma head, the filter's excitatory weight at lag 0 is "
            f"{summary['soma_kernel_lag0_mV']:.3f} mV per event (the cell: {cell.gain_mV:g} mV; "
            "the soma target is capped at threshold and includes the resets)."
        )
    return lines


def _report(
    rows: list[dict[str, Any]],
    table: str,
    summary: dict[str, Any],
    cell: Any,
    figs: list[Path],
    out: Path,
    scale: str,
) -> str:
    lines = [
        f"# LIF study ({scale} scale): Beniaguev et al. 2021, Fig. 1",
        "",
        f"The leaky integrate-and-fire cell ({cell.num_exc_inputs} excitatory and "
        f"{cell.num_inh_inputs} inhibitory inputs, kernel {cell.gain_mV:g} mV · "
        f"exp(−d / {cell.tau_ms:g} ms) over {cell.kernel_len} ms, threshold "
        f"{cell.v_threshold_mV:g} mV, reset {cell.v_reset_mV:g} mV) and two twins trained on "
        "the same data: one linear temporal filter of all inputs and a deep TCN. AUC: spike ROC "
        "AUC over all 1 ms test bins (`tutorial` protocol); `soma_ev`: explained variance of the "
        "(capped) soma voltage.",
        "",
        table,
        "",
        "## Findings",
        "",
        *findings(rows, summary, cell),
    ]
    if scale != "full":
        lines.append(
            f"- Scale: `{scale}`: a small dataset and a CPU-sized training budget; "
            "`--scale full` (GPU) has the assignment's sizes."
        )
    lines += ["", "## Figures", ""]
    lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in figs]
    return "\n".join(lines) + "\n"
