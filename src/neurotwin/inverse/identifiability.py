"""Local identifiability: how precisely could a trace pin each parameter down, at best?

At ``n_points`` parameter sets θ drawn from the prior, the trace's sensitivity to each scaled
parameter is measured by central differences, J (T, K) in mV per scaled unit (one simulation
per ±``step`` per parameter: ``n_points · (2K + 1)`` in all). With white measurement noise of
``noise_mV`` per sample, the Fisher information is ``F = Jᵀ J / σ²`` and the Cramér–Rao bound
on the standard deviation of any unbiased estimate of parameter k is ``sqrt((F⁻¹)_kk)``. It
accounts for the other parameters being unknown too: a parameter whose effect another one can
mimic gets a large bound even if it moves the trace a lot.

This is a local, linear statement. A small bound says the trace tells each θ from its
neighbours; it does not say a regressor learns that from a finite dataset (spike times make
the map from θ to V very rough; for spiking traces the difference quotients themselves depend
on ``step``, as spikes shift by whole samples, so compare protocols at the same step), nor that
no distant θ gives nearly the same trace: :func:`neurotwin.inverse.refine.refine_split` looks
for such equivalent fits. A large bound does say no estimator can do better: a protocol that
leaves a parameter unidentified should be changed, not trained harder. ``r2_bound`` turns the
bound into the best R² it allows under the uniform prior (variance 1/3 in scaled units),
averaged over the points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neurotwin.inverse.simulators import InverseSimulator, from_scaled
from neurotwin.inverse.stimuli import Stimulus


@dataclass
class Identifiability:
    """Per parameter (order of ``names``): ``sd`` the Cramér–Rao bound in scaled units per
    point (n_points, K), its median, ``r2_bound`` and ``rms_mV`` (the trace's RMS change per
    scaled unit, median over points)."""

    names: list[str]
    sd: np.ndarray
    rms_mV: np.ndarray
    noise_mV: float

    @property
    def sd_median(self) -> np.ndarray:
        return np.median(self.sd, axis=0)

    @property
    def r2_bound(self) -> np.ndarray:
        """1 − E[bound²] / (1/3), the bound clipped at the prior's own spread."""
        var = np.minimum(self.sd**2, 1.0 / 3.0)
        return 1.0 - 3.0 * var.mean(axis=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "noise_mV": self.noise_mV,
            "n_points": int(self.sd.shape[0]),
            "params": {
                n: {"sd_scaled_median": float(s), "r2_bound": float(r), "rms_mV_per_unit": float(m)}
                for n, s, r, m in zip(
                    self.names, self.sd_median, self.r2_bound, self.rms_mV, strict=True
                )
            },
        }


def local_identifiability(
    sim: InverseSimulator,
    stimulus: Stimulus | None = None,
    *,
    n_points: int = 16,
    step: float = 0.02,
    noise_mV: float = 1.0,
    seed: int = 0,
) -> Identifiability:
    """The Cramér–Rao bounds of ``sim``'s free parameters under ``stimulus`` (module docstring).
    ``step``: the finite-difference step in scaled units (the prior is [−1, 1])."""
    if not (isinstance(n_points, int) and n_points >= 1):
        raise ValueError(f"n_points must be an integer >= 1, got {n_points!r}")
    if not 0 < step <= 0.5:
        raise ValueError(f"step must be in (0, 0.5], got {step!r}")
    if not noise_mV > 0:
        raise ValueError(f"noise_mV must be > 0, got {noise_mV!r}")
    stimulus = stimulus if stimulus is not None else sim.default_stimulus()
    k = len(sim.params)
    z0 = np.random.default_rng(seed).uniform(-1 + step, 1 - step, (n_points, k))
    shifted = [z0]
    for j in range(k):
        for sign in (1.0, -1.0):
            z = z0.copy()
            z[:, j] += sign * step
            shifted.append(z)
    v = sim.simulate(from_scaled(np.concatenate(shifted), sim.params), stimulus)
    v = v.astype(np.float64).reshape(1 + 2 * k, n_points, -1)
    jac = ((v[1::2] - v[2::2]) / (2 * step)).transpose(1, 2, 0)  # (points, T, K)
    sd = np.empty((n_points, k))
    for i, jm in enumerate(jac):
        lam, vec = np.linalg.eigh(jm.T @ jm / noise_mV**2)
        # directions the trace does not see (λ ≈ 0) get a huge variance, not pinv's zero
        lam = np.maximum(lam, max(lam.max(), 1e-300) * 1e-14)
        sd[i] = np.sqrt((vec**2 / lam).sum(axis=1))
    rms = np.median(np.sqrt((jac**2).mean(axis=1)), axis=0)
    return Identifiability(list(sim.param_names), sd, rms, float(noise_mV))


__all__ = ["Identifiability", "local_identifiability"]
