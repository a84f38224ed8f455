"""Neural posterior estimation with ``sbi``: a normalising flow over the scaled parameters z,
conditioned on the trace through the inverse CNN used as embedding net (trained jointly).

:func:`fit_posterior` works on arrays; :func:`run_posterior` loads a dataset, fits, samples the
test split and writes ``posterior.pt`` (the pickled sbi posterior, our own trusted file),
``samples.npz`` (test-split samples (S, N, K), reused by a rerun with the same settings),
``metrics.json`` (R² of the posterior mean, ±1σ/±2σ coverage, expected coverage of central
intervals, and, given an ensemble, its coverage and interval widths on the same traces) and
``calibration.png``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from neurotwin.inverse.evaluate import (
    GAUSS_LEVELS,
    calibration_curve,
    r2_per_param,
    sample_coverage,
    uncertainty_summary,
)
from neurotwin.inverse.regressor import InverseCNN, RegressorConfig

log = logging.getLogger(__name__)


class _Embedding(nn.Module):
    """The CNN trunk of :class:`InverseCNN` as an sbi embedding net: (B, T) → (B, E)."""

    def __init__(self, cnn: InverseCNN) -> None:
        super().__init__()
        self.cnn = cnn

    def forward(self, x: Tensor) -> Tensor:
        return self.cnn.embed(x)


def fit_posterior(
    x: np.ndarray,
    z: np.ndarray,
    model_cfg: RegressorConfig,
    *,
    flow: str = "nsf",
    max_epochs: int = 50,
    batch_size: int = 128,
    lr: float = 5e-4,
    seed: int = 0,
    log_dir: str | Path | None = None,
) -> Any:
    """Train NPE on features ``x`` (N, T) and scaled parameters ``z`` (N, K) in [-1, 1] under a
    uniform prior on the box; returns the sbi posterior. sbi's TensorBoard events go to
    ``log_dir`` (default: a temporary folder, removed afterwards; sbi's own default would be
    ``./sbi-logs`` in the working directory)."""
    import tempfile

    if log_dir is None:
        with tempfile.TemporaryDirectory(prefix="neurotwin-sbi-") as tmp:
            return fit_posterior(x, z, model_cfg, flow=flow, max_epochs=max_epochs,
                                 batch_size=batch_size, lr=lr, seed=seed, log_dir=tmp)  # fmt: skip
    from sbi.inference import NPE
    from sbi.neural_nets import posterior_nn
    from sbi.utils import BoxUniform

    torch.manual_seed(seed)
    k = z.shape[1]
    cnn = InverseCNN(model_cfg)
    cnn.set_input_scaling(float(x.mean()), float(x.std()) or 1.0)
    prior = BoxUniform(low=-torch.ones(k), high=torch.ones(k))
    builder = posterior_nn(model=flow, embedding_net=_Embedding(cnn), z_score_x="none")
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir))
    inference = NPE(prior=prior, density_estimator=builder, show_progress_bars=False,
                    summary_writer=writer)  # fmt: skip
    inference.append_simulations(torch.as_tensor(z, dtype=torch.float32),
                                 torch.as_tensor(x, dtype=torch.float32))  # fmt: skip
    try:
        inference.train(training_batch_size=batch_size, learning_rate=lr,
                        max_num_epochs=max_epochs, stop_after_epochs=8)  # fmt: skip
    finally:
        writer.close()
    return inference.build_posterior()


def sample_posterior(posterior: Any, x: np.ndarray, n_samples: int = 500) -> np.ndarray:
    """Posterior samples (S, N, K) for features ``x`` (N, T)."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    s = posterior.sample_batched((n_samples,), x=xt, show_progress_bars=False)
    return s.detach().cpu().numpy()  # (S, N, K)


def posterior_metrics(z_true: np.ndarray, samples: np.ndarray) -> dict[str, Any]:
    mean, std = samples.mean(0), samples.std(0)
    nominal, observed = sample_coverage(z_true, samples, GAUSS_LEVELS)
    _, gauss = calibration_curve(z_true, mean, std)
    return {
        "n_test": len(z_true),
        "r2": r2_per_param(z_true, mean).tolist(),
        "mean_r2": float(r2_per_param(z_true, mean).mean()),
        **uncertainty_summary(z_true, mean, std),
        "expected_coverage": {"nominal": nominal.tolist(), "observed": observed.tolist()},
        "gaussian_coverage": {"nominal": nominal.tolist(), "observed": gauss.tolist()},
    }


def _previous(out: Path, settings: dict[str, Any]) -> tuple[np.ndarray, int, float] | None:
    """Samples, training size and time of an earlier run with the same settings, if any."""
    import json

    mf, sf = out / "metrics.json", out / "samples.npz"
    if not (mf.is_file() and sf.is_file()):
        return None
    old = json.loads(mf.read_text())
    if old.get("settings") != settings:
        return None
    with np.load(sf) as f:
        return f["samples"], int(old["n_train"]), float(old["train_s"])


def run_posterior(
    data: str | Path,
    out: str | Path,
    *,
    max_train: int | None = None,
    max_test: int = 300,
    max_epochs: int = 50,
    n_samples: int = 500,
    estimator: str | Path | None = None,
    model_sets: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit NPE on a dataset's training split, check it on the test split; see the module."""
    from neurotwin.inverse.pipeline import default_regressor, load_split
    from neurotwin.train.checkpoint import plain, temp_path, write_json

    out = Path(out)
    te = load_split(data, "test", max_test)
    settings = {"data": str(Path(data).resolve()), "max_train": max_train, "max_test": max_test,
                "max_epochs": max_epochs, "n_samples": n_samples, "seed": seed,
                "model_sets": plain(model_sets or {})}  # fmt: skip
    previous = _previous(out, settings)
    if previous is not None:  # same settings: reuse the samples, recompute the comparison
        samples, n_train, train_s = previous
        log.info("reusing the posterior samples in %s", out)
    else:
        tr = load_split(data, "train", max_train)
        cfg = default_regressor(tr.x.shape[1], tr.z.shape[1], **(model_sets or {}))
        t0 = time.perf_counter()
        post = fit_posterior(tr.x, tr.z, cfg, max_epochs=max_epochs, seed=seed)
        train_s = time.perf_counter() - t0
        samples = sample_posterior(post, te.x, n_samples)
        n_train = len(tr.x)
        out.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(out / "posterior.pt")
        torch.save(post, tmp)
        tmp.replace(out / "posterior.pt")
        tmp = temp_path(out / "samples.npz")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, samples=samples.astype(np.float32))
        tmp.replace(out / "samples.npz")
    res: dict[str, Any] = {"settings": settings, "n_train": n_train, "train_s": train_s,
                           **posterior_metrics(te.z, samples)}  # fmt: skip
    curves = {"sbi NPE (central intervals)": (
        np.asarray(res["expected_coverage"]["nominal"]),
        np.asarray(res["expected_coverage"]["observed"]),
    )}  # fmt: skip
    if estimator is not None:
        from neurotwin.inverse.ensemble import load_estimator

        est = load_estimator(estimator)
        p = est.predict_features(te.x)
        nominal, observed = calibration_curve(te.z, p.mean, p.std)
        res["ensemble"] = {**uncertainty_summary(te.z, p.mean, p.std),
                           "mean_r2": float(r2_per_param(te.z, p.mean).mean())}  # fmt: skip
        res["width_ratio_sbi_over_ensemble"] = float(samples.std(0).mean() / p.std.mean())
        curves["ensemble (calibrated σ)"] = (nominal, observed)
    write_json(out / "metrics.json", res)
    from neurotwin.plots.inverse import plot_calibration, plt, save_figure

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    plot_calibration(curves, ax=ax)
    fig.tight_layout()
    save_figure(fig, out / "calibration.png")
    return res
