"""Hodgkin–Huxley ball and two sticks: a soma, one apical and two basal dendrites, HH everywhere.

Geometry (µm): soma radius 10.5 (a cylinder L = diam = 21, the area of a 10.5 µm sphere,
1385.4 µm²); apical dendrite L = 10 × 10.5 = 105, radius 1.05 (diam 2.1); two basal dendrites
L = 105 / 4 = 26.25, diam 2.1. All three dendrites attach to the soma's middle. NEURON's built-in
``hh`` (Hodgkin & Huxley 1952: gnabar, gkbar, gl in S/cm², el in mV; ena = 50 mV, ek = −77 mV
by default) is inserted in every section; its parameters are below (:data:`PARAMS`, with the
reversal potentials ``ena``, ``ek`` of every section). The default temperature is HH's 6.3 °C.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SOMA_RADIUS_UM = 10.5
SOMA_L_UM = 2 * SOMA_RADIUS_UM
SOMA_DIAM_UM = 2 * SOMA_RADIUS_UM
APICAL_L_UM = 10 * SOMA_RADIUS_UM
DEND_DIAM_UM = 2 * SOMA_RADIUS_UM / 10
BASAL_L_UM = APICAL_L_UM / 4
APICAL_NSEG = 5
BASAL_NSEG = 1

# (name, unit, low, high, typical value) — typical: the HH squid-axon values
PARAMS: tuple[tuple[str, str, float, float, float], ...] = (
    ("soma_gnabar", "S/cm2", 0.05, 0.25, 0.12),
    ("soma_gkbar", "S/cm2", 0.01, 0.07, 0.036),
    ("soma_gl", "S/cm2", 5e-5, 5e-4, 3e-4),
    ("dend_gnabar", "S/cm2", 0.0, 0.12, 0.03),
    ("dend_gkbar", "S/cm2", 0.0, 0.07, 0.02),
    ("dend_gl", "S/cm2", 5e-5, 5e-4, 3e-4),
    ("cm", "uF/cm2", 0.5, 2.0, 1.0),
    ("Ra", "ohm*cm", 50.0, 300.0, 100.0),
    ("el", "mV", -70.0, -50.0, -54.3),
    ("ena", "mV", 40.0, 60.0, 50.0),
    ("ek", "mV", -90.0, -70.0, -77.0),
)
PARAM_NAMES = tuple(p[0] for p in PARAMS)
# inferred unless told otherwise (the inverse simulator's ``free``): all but the reversals
DEFAULT_FREE = PARAM_NAMES[:9]


def area_um2() -> dict[str, float]:
    """Membrane area of each part (µm², lateral cylinder surfaces, as NEURON computes them)."""
    return {
        "soma": math.pi * SOMA_DIAM_UM * SOMA_L_UM,
        "apical": math.pi * DEND_DIAM_UM * APICAL_L_UM,
        "basal": 2 * math.pi * DEND_DIAM_UM * BASAL_L_UM,
    }


class HHBall2SticksModel:
    """``n`` ball-and-two-sticks cells in this process's NEURON, one per row of ``theta``
    (columns in :data:`PARAM_NAMES` order)."""

    def __init__(self, theta: np.ndarray) -> None:
        from neuron import h

        self.cells: list[dict[str, Any]] = []
        for k, row in enumerate(np.asarray(theta, dtype=np.float64)):
            p = dict(zip(PARAM_NAMES, (float(x) for x in row), strict=True))
            soma = h.Section(name=f"hh_soma{k}")
            soma.L, soma.diam, soma.nseg = SOMA_L_UM, SOMA_DIAM_UM, 1
            apical = h.Section(name=f"hh_apical{k}")
            apical.L, apical.diam, apical.nseg = APICAL_L_UM, DEND_DIAM_UM, APICAL_NSEG
            basal = []
            for j in range(2):
                b = h.Section(name=f"hh_basal{k}_{j}")
                b.L, b.diam, b.nseg = BASAL_L_UM, DEND_DIAM_UM, BASAL_NSEG
                basal.append(b)
            for sec in (apical, *basal):
                sec.connect(soma(0.5), 0)
            for sec in (soma, apical, *basal):
                sec.Ra = p["Ra"]
                sec.cm = p["cm"]
                sec.insert("hh")
                part = "soma" if sec is soma else "dend"
                for seg in sec:
                    seg.hh.gnabar = p[f"{part}_gnabar"]
                    seg.hh.gkbar = p[f"{part}_gkbar"]
                    seg.hh.gl = p[f"{part}_gl"]
                    seg.hh.el = p["el"]
                sec.ena, sec.ek = p["ena"], p["ek"]
            self.cells.append({"soma": soma, "apical": apical, "basal": basal})

    def sites(self) -> list[Any]:
        return [c["soma"](0.5) for c in self.cells]


def simulate_hh_ball2sticks(
    theta: np.ndarray,
    current_nA: np.ndarray,
    sample_dt_ms: float,
    *,
    dt_ms: float = 0.025,
    celsius_degC: float = 6.3,
    v_init_mV: float = -65.0,
) -> np.ndarray:
    """Soma voltage (N, T) float32 mV of the cells ``theta`` (N, 11) under ``current_nA`` (T,)."""
    from neurotwin.sim.current_clamp import run_current_clamp
    from neurotwin.sim.run import _NEURON_LOCK

    with _NEURON_LOCK:
        model = HHBall2SticksModel(theta)
        out = run_current_clamp(
            model.sites(),
            current_nA,
            sample_dt_ms,
            dt_ms=dt_ms,
            v_init_mV=v_init_mV,
            celsius_degC=celsius_degC,
        )
        del model
    return out
