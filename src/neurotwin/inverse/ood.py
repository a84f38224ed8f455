"""Out-of-range detection: a score and a flag for traces unlike the training data.

Four components, each made comparable by a robust normalisation on the validation split:

* ``distance``: Mahalanobis distance of a trace's CNN embedding from the training embeddings
  (one Gaussian per ensemble member, shrunk covariance), √(d²/E), averaged over members;
* ``disagreement``: the ensemble's spread, σ_k divided by its median on validation, averaged
  over parameters;
* ``reconstruction``: how badly the features (average-pooled to ≤ 256 samples) are rebuilt
  from the principal components holding 99% of the training features' variance (RMS
  residual): a trace shape never seen in training has a large residual even where the CNN's
  embedding happens to look familiar;
* ``input_distance``: Mahalanobis distance, √(d²/D), of D = 13 summary statistics of the
  features (mean, SD, min, max, 5/50/95th percentiles, mean and SD of the first difference,
  the means of the four quarters of the trace) from those of the training traces: catches
  offsets, noise, clipping and truncation that move a trace *along* familiar directions.

``score = max_c (c − median_c) / (q90_c − median_c)``; a trace is flagged when the score exceeds
the threshold chosen on the validation split for the target false-alarm rate, when any
parameter's ensemble mean sits at the output limit (|z| ≥ ``limit``, next to the ±1.2 of the
tanh head, outside the [-1, 1] prior box), or when the features are not finite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COMPONENTS = ("distance", "disagreement", "reconstruction", "input_distance")
AT_LIMIT_SCORE = 1e6  # the score given to non-finite traces and estimates at the output limit


@dataclass
class OODDetector:
    means: np.ndarray  # (M, E) training embedding mean per member
    precisions: np.ndarray  # (M, E, E) inverse shrunk covariance per member
    std_ref: np.ndarray  # (K,) median ensemble σ on validation
    centre: np.ndarray  # (C,) median of each component on validation
    pca_mean: np.ndarray  # (P,) mean of the pooled training features
    pca_basis: np.ndarray  # (P, R) principal directions of the pooled training features
    stat_mean: np.ndarray  # (D,) mean summary statistics of the training features
    stat_precision: np.ndarray  # (D, D) their inverse shrunk covariance
    spread: np.ndarray  # (C,) q90 − median on validation
    threshold: float = float("inf")
    limit: float = 1.1
    false_alarm: float = 0.05
    val_false_alarm: float = field(default=float("nan"))

    # -- components ---------------------------------------------------------------------
    def components(self, embeddings: np.ndarray, z_std: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``embeddings`` (M, N, E), ensemble σ (N, K), features (N, T) → raw components (N, C)."""
        diff = embeddings - self.means[:, None, :]  # (M, N, E)
        d2 = np.einsum("mne,mef,mnf->mn", diff, self.precisions, diff)  # (M, N)
        dist = np.sqrt(np.maximum(d2, 0.0) / embeddings.shape[-1]).mean(0)  # (N,)
        dis = (z_std / self.std_ref).mean(1)  # (N,)
        rec, inp = self.input_space(x)
        return np.stack([dist, dis, rec, inp], axis=1)

    def input_space(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(RMS residual (N,) of pooled features after projection on the principal basis,
        Mahalanobis distance (N,) of their summary statistics)."""
        c = pool_features(x, len(self.pca_mean)) - self.pca_mean  # (N, P)
        res = c - (c @ self.pca_basis) @ self.pca_basis.T  # (N, P)
        d = summary_stats(x) - self.stat_mean  # (N, D)
        d2 = np.einsum("nd,de,ne->n", d, self.stat_precision, d)
        return np.sqrt((res**2).mean(1)), np.sqrt(np.maximum(d2, 0.0) / d.shape[1])

    def score(
        self, embeddings: np.ndarray, z_mean: np.ndarray, z_std: np.ndarray, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(score (N,), at_limit (N,) bool, normalised components (N, C))."""
        comp = self.components(embeddings, z_std, x)
        norm = (comp - self.centre) / self.spread  # (N, C)
        norm = np.where(np.isfinite(norm), norm, AT_LIMIT_SCORE)
        s = norm.max(1)
        at_limit = (np.abs(z_mean) >= self.limit).any(1) | ~np.isfinite(z_mean).all(1)
        return np.where(at_limit, AT_LIMIT_SCORE, s), at_limit, norm

    def flag(self, score: np.ndarray) -> np.ndarray:
        return score > self.threshold

    # -- persistence --------------------------------------------------------------------
    def save(self, path: Path) -> None:
        from neurotwin.train.checkpoint import temp_path

        tmp = temp_path(path)
        with open(tmp, "wb") as fh:
            np.savez(
                fh, means=self.means, precisions=self.precisions, std_ref=self.std_ref,
                centre=self.centre, spread=self.spread, pca_mean=self.pca_mean,
                pca_basis=self.pca_basis, stat_mean=self.stat_mean,
                stat_precision=self.stat_precision,
                scalars=np.array(
                    [self.threshold, self.limit, self.false_alarm, self.val_false_alarm]
                ),
            )  # fmt: skip
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> OODDetector:
        with np.load(path) as f:
            thr, limit, fa, vfa = (float(v) for v in f["scalars"])
            return cls(
                means=f["means"], precisions=f["precisions"], std_ref=f["std_ref"],
                centre=f["centre"], spread=f["spread"], pca_mean=f["pca_mean"],
                pca_basis=f["pca_basis"], stat_mean=f["stat_mean"],
                stat_precision=f["stat_precision"], threshold=thr, limit=limit,
                false_alarm=fa, val_false_alarm=vfa,
            )  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {
            "components": list(COMPONENTS),
            "threshold": self.threshold,
            "limit": self.limit,
            "target_false_alarm": self.false_alarm,
            "validation_false_alarm": self.val_false_alarm,
        }


def _gaussian(emb: np.ndarray, shrink: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Mean (E,) and precision (E, E) of embeddings (N, E), covariance shrunk toward its
    diagonal mean by ``shrink``."""
    mu = emb.mean(0)
    cov = np.cov(emb, rowvar=False) if len(emb) > 1 else np.eye(emb.shape[1])
    cov = np.atleast_2d(cov)
    e = cov.shape[0]
    target = np.trace(cov) / e * np.eye(e)
    cov = (1 - shrink) * cov + shrink * target + 1e-6 * np.eye(e)
    return mu, np.linalg.inv(cov)


def pool_features(x: np.ndarray, p: int) -> np.ndarray:
    """Average-pool features (N, T) down to ``p`` samples (N, p) (the last T mod p dropped)."""
    n, t = x.shape
    f = max(t // p, 1)
    return x[:, : p * f].reshape(n, p, f).mean(2)  # (N, p, f) -> (N, p)


def summary_stats(x: np.ndarray) -> np.ndarray:
    """13 summary statistics (N, 13) of features (N, T); see the module docstring."""
    dx = np.diff(x, axis=1)  # (N, T-1)
    q = np.percentile(x, [5, 50, 95], axis=1).T  # (N, 3)
    quarters = [part.mean(1) for part in np.array_split(x, 4, axis=1)]
    cols = [x.mean(1), x.std(1), x.min(1), x.max(1), *q.T, np.abs(dx).mean(1), dx.std(1),
            *quarters]  # fmt: skip
    return np.stack(cols, axis=1).astype(np.float64)


def _pca(x: np.ndarray, var: float = 0.99, max_pool: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Mean (p,) and basis (p, r) of the principal components holding ``var`` of the pooled
    features' variance."""
    p = min(max_pool, x.shape[1])
    xp = pool_features(x, p)  # (N, p)
    mu = xp.mean(0)
    _, s, vt = np.linalg.svd(xp - mu, full_matrices=False)
    frac = np.cumsum(s**2) / max(float((s**2).sum()), 1e-12)
    r = min(int(np.searchsorted(frac, var) + 1), len(s))
    return mu, vt[:r].T


def fit_ood(
    train_embeddings: np.ndarray,
    val_embeddings: np.ndarray,
    val_mean: np.ndarray,
    val_std: np.ndarray,
    train_x: np.ndarray,
    val_x: np.ndarray,
    *,
    false_alarm: float = 0.05,
    limit: float = 1.1,
) -> OODDetector:
    """Fit the detector: embeddings (M, N, E) of training and validation traces, the
    ensemble's validation mean and σ (N, K), training and validation features (N, T); the
    threshold flags ``false_alarm`` of validation."""
    if not 0 < false_alarm < 1:
        raise ValueError(f"false_alarm must be in (0, 1), got {false_alarm}")
    fits = [_gaussian(e) for e in train_embeddings]
    pca_mean, pca_basis = _pca(train_x)
    stats = summary_stats(train_x)
    scale = np.maximum(stats.std(0), 1e-9)
    stat_mu, stat_prec = _gaussian(stats / scale, shrink=0.05)
    stat_prec = stat_prec / np.outer(scale, scale)  # precision of the unscaled statistics
    det = OODDetector(
        means=np.stack([m for m, _ in fits]),
        precisions=np.stack([p for _, p in fits]),
        std_ref=np.maximum(np.median(val_std, axis=0), 1e-6),
        centre=np.zeros(len(COMPONENTS)),
        spread=np.ones(len(COMPONENTS)),
        pca_mean=pca_mean,
        pca_basis=pca_basis,
        stat_mean=stat_mu * scale,
        stat_precision=stat_prec,
        limit=limit,
        false_alarm=false_alarm,
    )
    comp = det.components(val_embeddings, val_std, val_x)
    det.centre = np.median(comp, axis=0)
    det.spread = np.maximum(np.quantile(comp, 0.9, axis=0) - det.centre, 1e-6)
    score, _, _ = det.score(val_embeddings, val_mean, val_std, val_x)
    det.threshold = float(np.quantile(score, 1 - false_alarm, method="higher"))
    det.val_false_alarm = float(det.flag(score).mean())
    return det


# -- perturbations used to test the detector ---------------------------------------------------
PERTURBATIONS = ("noise", "clipped", "truncated", "offset")


def perturb_traces(v_mv: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Corrupt raw traces (N, T) in mV the way recordings go wrong: ``noise`` (white noise,
    σ = 5 mV), ``clipped`` (amplifier saturation at −30 mV), ``truncated`` (the recording
    stops after 60% of the samples; the rest hold the last value), ``offset`` (+15 mV
    uncompensated junction potential)."""
    v = np.array(v_mv, dtype=np.float32, copy=True)
    if kind == "noise":
        return v + rng.normal(0.0, 5.0, v.shape).astype(np.float32)
    if kind == "clipped":
        return np.minimum(v, -30.0)
    if kind == "truncated":
        cut = int(0.6 * v.shape[1])
        v[:, cut:] = v[:, cut - 1 : cut]
        return v
    if kind == "offset":
        return v + 15.0
    raise ValueError(f"unknown perturbation {kind!r}; known: {PERTURBATIONS}")
