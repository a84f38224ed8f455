"""A reduced Mainen & Sejnowski (1996) cell: axon, soma and one equivalent dendrite.

Channels (our own NMODL in ``sim/mechanisms/mainen``, from the published kinetics): fast Na
``ms_na``, delayed-rectifier K ``ms_kv``, slow K ``ms_km``, Ca-activated K ``ms_kca``, HVA Ca
``ms_ca`` and a submembrane Ca pool ``ms_cad``; densities in pS/µm² (1 pS/µm² = 1e-4 S/cm²),
37 °C, ENa = 60 mV, EK = −90 mV, Ra = 150 Ω·cm, leak reversal −70 mV.

Compartments, as in Mainen & Sejnowski's model:

* soma: cylinder L = diam = 20 µm; Na ``gna_soma``, Kv ``gkv_soma``, plus Ca, Km, KCa and the
  Ca pool at the dendritic densities;
* dendrite: one compartment of ``ratio`` × the soma's area whose centre is ``kappa_MOhm`` from
  the soma (the two-compartment reduction of Mainen & Sejnowski's Fig. 4: ρ = ratio, κ);
  Na ``gna_dend``, Ca ``gca_dend``, Km ``gkm_dend``, KCa ``gkca_dend`` and the Ca pool;
* axon: hillock (10 µm, diam 4 → 1.5 µm) and initial segment (15 µm, 1.5 µm) with Na
  ``gna_node`` and Kv ``gkv_axon``, then three myelinated internodes (100 µm, 1.5 µm,
  cm 0.04 µF/cm², Na ``gna_dend``) alternating with nodes of Ranvier (1 µm, 1.1 µm, Na
  ``gna_node``, Kv ``gkv_axon``, leak 0.02 S/cm²).

``c_m`` (µF/cm²) and ``rm`` (kΩ·cm², leak g = 1/rm) apply to soma, dendrite and axon except
the myelin's capacitance and the nodes' leak.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# (name, unit, low, high, published value)
PARAMS: tuple[tuple[str, str, float, float, float], ...] = (
    ("gna_dend", "pS/um2", 10.0, 250.0, 20.0),
    ("gna_node", "pS/um2", 15_000.0, 80_000.0, 30_000.0),
    ("gna_soma", "pS/um2", 10.0, 60_000.0, 20.0),
    ("gkv_axon", "pS/um2", 1_000.0, 5_000.0, 2_000.0),
    ("gkv_soma", "pS/um2", 100.0, 2_000.0, 200.0),
    ("gkm_dend", "pS/um2", 0.05, 0.20, 0.1),
    ("gkca_dend", "pS/um2", 1.5, 6.0, 3.0),
    ("gca_dend", "pS/um2", 0.15, 0.60, 0.3),
    ("c_m", "uF/cm2", 0.3, 1.5, 0.75),
    ("rm", "kohm*cm2", 15.0, 60.0, 30.0),
)
PARAM_NAMES = tuple(p[0] for p in PARAMS)

SOMA_L_UM = 20.0
SOMA_DIAM_UM = 20.0
RA_OHM_CM = 150.0
E_LEAK_MV = -70.0
ENA_MV = 60.0
EK_MV = -90.0
CM_MYELIN_UF_CM2 = 0.04
G_PAS_NODE_S_CM2 = 0.02
N_INTERNODES = 3
V_INIT_MV = -70.0


def dendrite_geometry(ratio: float, kappa_MOhm: float) -> tuple[float, float]:
    """(L_um, diam_um) of the one-compartment dendrite whose area is ``ratio`` × the soma's and
    whose centre is ``kappa_MOhm`` from its base: A = π d L and κ = 4 Ra (L/2) / (π d²), so
    d³ = 2 Ra A / (π² κ)."""
    area_cm2 = ratio * math.pi * SOMA_DIAM_UM * SOMA_L_UM * 1e-8
    d_cm = (2 * RA_OHM_CM * area_cm2 / (math.pi**2 * kappa_MOhm * 1e6)) ** (1 / 3)
    return area_cm2 / (math.pi * d_cm) * 1e4, d_cm * 1e4


class MainenModel:
    """``n`` reduced Mainen cells in this process's NEURON, one per row of ``theta`` (columns in
    :data:`PARAM_NAMES` order), all with dendrite/soma area ``ratio``."""

    def __init__(self, theta: np.ndarray, ratio: float, kappa_MOhm: float) -> None:
        from neuron import h

        from neurotwin.sim import mechanisms

        mechanisms.load_extra("mainen")
        if not (math.isfinite(ratio) and ratio > 0):
            raise ValueError(f"dend_soma_ratio must be > 0, got {ratio}")
        if not (math.isfinite(kappa_MOhm) and kappa_MOhm > 0):
            raise ValueError(f"kappa_MOhm must be > 0, got {kappa_MOhm}")
        dend_L, dend_diam = dendrite_geometry(ratio, kappa_MOhm)
        dend_nseg = 1
        self.cells: list[dict[str, Any]] = []
        for k, row in enumerate(np.asarray(theta, dtype=np.float64)):
            p = dict(zip(PARAM_NAMES, (float(x) for x in row), strict=True))
            soma = h.Section(name=f"ms_soma{k}")
            soma.L, soma.diam, soma.nseg = SOMA_L_UM, SOMA_DIAM_UM, 1
            dend = h.Section(name=f"ms_dend{k}")
            dend.L, dend.diam, dend.nseg = dend_L, dend_diam, dend_nseg
            dend.connect(soma(1), 0)
            hill = h.Section(name=f"ms_hill{k}")
            hill.L, hill.nseg = 10.0, 3
            hill.connect(soma(0), 0)
            for seg in hill:
                seg.diam = 4.0 + (1.5 - 4.0) * seg.x
            iseg = h.Section(name=f"ms_iseg{k}")
            iseg.L, iseg.diam, iseg.nseg = 15.0, 1.5, 3
            iseg.connect(hill(1), 0)
            axon: list[Any] = []
            parent = iseg
            for j in range(N_INTERNODES):
                myelin = h.Section(name=f"ms_myelin{k}_{j}")
                myelin.L, myelin.diam, myelin.nseg = 100.0, 1.5, 3
                node = h.Section(name=f"ms_node{k}_{j}")
                node.L, node.diam, node.nseg = 1.0, 1.1, 1
                myelin.connect(parent(1), 0)
                node.connect(myelin(1), 0)
                axon += [myelin, node]
                parent = node
            nodes, myelins = axon[1::2], axon[0::2]
            for sec in (soma, dend, hill, iseg, *axon):
                sec.Ra = RA_OHM_CM
                sec.cm = p["c_m"]
                sec.insert("pas")
                sec.insert("ms_na")
                for seg in sec:
                    seg.pas.g = 1e-3 / p["rm"]
                    seg.pas.e = E_LEAK_MV
            for sec in myelins:
                sec.cm = CM_MYELIN_UF_CM2
            for sec in nodes:
                for seg in sec:
                    seg.pas.g = G_PAS_NODE_S_CM2
            for sec in (soma, dend):
                for mech in ("ms_ca", "ms_km", "ms_kca", "ms_cad"):
                    sec.insert(mech)
                for seg in sec:
                    seg.ms_ca.gbar = p["gca_dend"]
                    seg.ms_km.gbar = p["gkm_dend"]
                    seg.ms_kca.gbar = p["gkca_dend"]
            for sec in (soma, hill, iseg, *nodes):
                sec.insert("ms_kv")
                gkv = p["gkv_soma"] if sec is soma else p["gkv_axon"]
                for seg in sec:
                    seg.ms_kv.gbar = gkv
            na = {"soma": p["gna_soma"], "axon": p["gna_node"], "other": p["gna_dend"]}
            for sec in (soma, dend, hill, iseg, *axon):
                kind = "soma" if sec is soma else "axon" if sec in (hill, iseg, *nodes) else "other"
                for seg in sec:
                    seg.ms_na.gbar = na[kind]
                sec.ena = ENA_MV
                if h.ismembrane("k_ion", sec=sec):
                    sec.ek = EK_MV
            self.cells.append({"soma": soma, "dend": dend, "axon": [hill, iseg, *axon]})

    def sites(self) -> list[Any]:
        return [c["soma"](0.5) for c in self.cells]


def simulate_mainen(
    theta: np.ndarray,
    current_nA: np.ndarray,
    sample_dt_ms: float,
    *,
    ratio: float = 1.0,
    kappa_MOhm: float = 10.0,
    dt_ms: float = 0.025,
    celsius_degC: float = 37.0,
) -> np.ndarray:
    """Soma voltage (N, T) float32 mV of the cells ``theta`` (N, 10) under ``current_nA``."""
    from neurotwin.sim.current_clamp import run_current_clamp
    from neurotwin.sim.run import _NEURON_LOCK

    with _NEURON_LOCK:
        model = MainenModel(theta, ratio, kappa_MOhm)
        out = run_current_clamp(
            model.sites(),
            current_nA,
            sample_dt_ms,
            dt_ms=dt_ms,
            v_init_mV=V_INIT_MV,
            celsius_degC=celsius_degC,
        )
        del model
    return out
