"""The ball-and-stick cell family (../shared/specs/ball_and_stick.md): config and NEURON build.

A Hay-2011 soma (12 mechanisms, our own NMODL) and a passive dendrite of ``num_segments``
compartments, each carrying one excitatory AMPA(+NMDA) and one inhibitory GABA_A synapse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from neurotwin.sim.cells.base import CellConfig, require
from neurotwin.sim.kinetics import CELSIUS

SYNAPSES: dict[str, dict[str, float]] = {
    # spec §5.5: gmax in µS, gamma in /mV
    "ampa": {"gmax_AMPA": 0.0004, "gmax_NMDA": 0.0, "gamma_NMDA": 0.062},
    "nmda_rodent": {"gmax_AMPA": 0.0004, "gmax_NMDA": 0.0004, "gamma_NMDA": 0.062},
    "nmda_human": {"gmax_AMPA": 0.0004, "gmax_NMDA": 0.0008, "gamma_NMDA": 0.08},
}

# spec §5.3: somatic densities in S/cm² (SK_E2 additionally × ske2_factor), all × rho_factor
SOMA_DENSITIES_S_CM2: dict[str, float] = {
    "NaTs2_t": 0.998912,
    "NaTa_t": 3.89618,
    "Nap_Et2": 0.005834,
    "K_Tst": 0.077274,
    "K_Pst": 0.188851,
    "SKv3_1": 0.338029,
    "SK_E2": 0.09965,
    "Im": 0.000008,
    "Ca_HVA": 0.000644,
    "Ca_LVAst": 0.000557,
    "Ih": 0.000075,
}
SOMA_L_UM = 25.0
SOMA_DIAM_UM = 25.0
V_INIT_MV = -85.0


@dataclass(frozen=True)
class BallAndStickConfig(CellConfig):
    """A ball-and-stick cell. Lengths in µm, conductances in µS or S/cm², times in ms.

    ``rho_factor`` scales every somatic channel density (0 leaves a passive cell);
    ``ske2_factor`` additionally scales SK_E2 (0: no SK current, as in the reference datasets).
    The soma leak ``soma_g_pas_S_cm2`` does not follow ``dend_Rm_ohm_cm2`` (spec §6.4).
    """

    family: ClassVar[str] = "ball_and_stick"
    name: str = "ball_and_stick"
    dend_L_um: float = 128.0
    dend_diam_um: float = 4.0
    num_segments: int = 8
    synapse: str = "ampa"
    ske2_factor: float = 0.0
    rho_factor: float = 1.0
    dt_ms: float = 0.025
    g_max_gaba_uS: float = 0.001
    Ra_ohm_cm: float = 150.0
    cm_uF_cm2: float = 1.0
    dend_Rm_ohm_cm2: float = 20000.0
    soma_g_pas_S_cm2: float = 3e-5

    def validate(self) -> None:
        for f in (
            "dend_L_um",
            "dend_diam_um",
            "dt_ms",
            "Ra_ohm_cm",
            "cm_uF_cm2",
            "dend_Rm_ohm_cm2",
        ):
            value = getattr(self, f)
            require(value > 0 and math.isfinite(value), f"{f} must be > 0, got {value}")
        for f in ("ske2_factor", "rho_factor", "g_max_gaba_uS", "soma_g_pas_S_cm2"):
            value = getattr(self, f)
            require(value >= 0 and math.isfinite(value), f"{f} must be >= 0, got {value}")
        require(
            isinstance(self.num_segments, int) and self.num_segments >= 1,
            f"num_segments must be an integer >= 1, got {self.num_segments!r}",
        )
        require(
            self.synapse in SYNAPSES,
            f"synapse must be one of {', '.join(SYNAPSES)}, got {self.synapse!r}",
        )
        steps = 1.0 / self.dt_ms
        require(
            abs(steps - round(steps)) < 1e-9,
            f"dt_ms must divide 1 ms into a whole number of steps, got {self.dt_ms}",
        )

    # -- input layout: (2, num_segments, T); channel 0 excitatory, 1 inhibitory ----------
    @property
    def input_shape(self) -> tuple[int, ...]:
        return (2, self.num_segments)

    @property
    def num_exc(self) -> int:
        return self.num_segments

    @property
    def num_inh(self) -> int:
        return self.num_segments

    @property
    def num_dend(self) -> int:
        return self.num_segments

    @property
    def samples_per_ms(self) -> int:
        return int(round(1.0 / self.dt_ms))

    @property
    def length_constant_um(self) -> float:
        """λ = 100·sqrt(d·Rm/(4·Ra)) µm (informative only)."""
        return 100.0 * math.sqrt(self.dend_diam_um * self.dend_Rm_ohm_cm2 / (4 * self.Ra_ohm_cm))

    def pack_inputs(self, exc: np.ndarray, inh: np.ndarray) -> np.ndarray:
        return np.stack([exc, inh], axis=-3)  # (..., 2, S, T)

    def unpack_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return inputs[..., 0, :, :], inputs[..., 1, :, :]

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["synapse_params"] = dict(SYNAPSES[self.synapse])
        return d


PRESETS: dict[str, dict[str, Any]] = {
    "point_ampa": {"dend_L_um": 128.0, "dend_diam_um": 4.0, "synapse": "ampa"},
    "cable_nmda": {"dend_L_um": 2048.0, "dend_diam_um": 1.0, "synapse": "nmda_human"},
}


class BallAndStickModel:
    """``n`` independent ball-and-stick cells built in this process's NEURON.

    Several cells share one NEURON model so that NEURON's per-step overhead is paid once for the
    whole batch; each cell is its own tree, so every cell's arithmetic is exactly that of a lone
    cell. Use :meth:`run` to simulate a batch of inputs.
    """

    def __init__(self, cell: BallAndStickConfig, n: int = 1) -> None:
        from neuron import h

        from neurotwin.sim import mechanisms

        mechanisms.load()
        self.cell = cell
        self.h = h
        self.soma: list[Any] = []
        self.dend: list[Any] = []
        self.exc: list[list[Any]] = []
        self.inh: list[list[Any]] = []
        syn = SYNAPSES[cell.synapse]
        nseg = cell.num_segments
        for k in range(n):
            soma = h.Section(name=f"soma{k}")
            soma.L, soma.diam, soma.nseg = SOMA_L_UM, SOMA_DIAM_UM, 1
            dend = h.Section(name=f"dend{k}")
            dend.L, dend.diam, dend.nseg = cell.dend_L_um, cell.dend_diam_um, nseg
            dend.connect(soma(1), 0)
            for sec in (soma, dend):
                sec.Ra = cell.Ra_ohm_cm
                sec.cm = cell.cm_uF_cm2
                sec.insert("pas")
                for seg in sec:
                    seg.pas.e = V_INIT_MV
            for seg in dend:
                seg.pas.g = 1.0 / cell.dend_Rm_ohm_cm2
            soma(0.5).pas.g = cell.soma_g_pas_S_cm2
            for mech, gbar in SOMA_DENSITIES_S_CM2.items():
                soma.insert(mech)
                scale = cell.rho_factor * (cell.ske2_factor if mech == "SK_E2" else 1.0)
                setattr(soma(0.5), f"gbar_{mech}", gbar * scale)
            soma.insert("CaDynamics_E2")
            soma(0.5).CaDynamics_E2.gamma = 0.000509
            soma(0.5).CaDynamics_E2.decay = 294.679571
            soma.ena = 50.0
            soma.ek = -85.0
            exc, inh = [], []
            for i in range(nseg):
                x = (i + 0.5) / nseg
                e = h.Synapse_AMPA_NMDA(dend(x))
                e.gmax_AMPA = syn["gmax_AMPA"]
                e.gmax_NMDA = syn["gmax_NMDA"]
                e.gamma_NMDA = syn["gamma_NMDA"]
                g = h.Synapse_GABA_A(dend(x))
                g.tau_r, g.tau_d, g.e, g.gmax = 0.2, 8.0, -85.0, cell.g_max_gaba_uS
                exc.append(e)
                inh.append(g)
            self.soma.append(soma)
            self.dend.append(dend)
            self.exc.append(exc)
            self.inh.append(inh)
        self._queues: list[Any] = []

    @property
    def size(self) -> int:
        return len(self.soma)

    def set_inputs(self, inputs: np.ndarray) -> None:
        """Give every synapse its event queue. ``inputs``: (n, 2, S, T) weights per 1 ms bin."""
        h = self.h
        self._queues = []
        for k in range(self.size):
            for channel, synapses in enumerate((self.exc[k], self.inh[k])):
                for i, syn in enumerate(synapses):
                    row = np.asarray(inputs[k, channel, i], dtype=np.float64)
                    bins = np.flatnonzero(row > 0)
                    pairs = np.empty(2 * len(bins))  # interleaved (time_ms, weight)
                    pairs[0::2] = bins
                    pairs[1::2] = row[bins]
                    vec = h.Vector(pairs)
                    syn.events(vec)
                    self._queues.append(vec)

    def set_inputs_netstim(self, inputs: np.ndarray) -> None:
        """The naive delivery of spec §5.6: one NetStim and one NetCon per event.

        Kept as the baseline that benchmarks and tests compare the event queues against; it
        produces identical outputs, only slower to build and to run.
        """
        h = self.h
        self.clear_inputs()
        objects = []
        for k in range(self.size):
            for channel, synapses in enumerate((self.exc[k], self.inh[k])):
                for i, syn in enumerate(synapses):
                    row = np.asarray(inputs[k, channel, i], dtype=np.float64)
                    for t in np.flatnonzero(row > 0):
                        stim = h.NetStim()
                        stim.start, stim.number, stim.noise = float(t), 1, 0
                        nc = h.NetCon(stim, syn)
                        nc.delay = 0
                        nc.weight[0] = row[t]
                        objects.append((stim, nc))
        self._queues = objects

    def clear_inputs(self) -> None:
        for syns in self.exc + self.inh:
            for syn in syns:
                syn.events()
        self._queues = []

    def run(self, duration_ms: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Integrate ``duration_ms`` ms (40·T steps at dt = 0.025) from finitialize(-85).

        Returns per cell the high-resolution soma trace (steps + 1 samples) and the dendritic
        voltages (S, T) sampled at t = 0, 1, ..., T-1 ms.
        """
        h = self.h
        cell = self.cell
        spm = cell.samples_per_ms
        soma_rec, dend_rec = [], []
        for k in range(self.size):
            v = h.Vector(spm * duration_ms + 1)
            v.record(self.soma[k](0.5)._ref_v)
            soma_rec.append(v)
            recs = []
            for i in range(cell.num_segments):
                r = h.Vector(duration_ms + 1)
                r.record(self.dend[k]((i + 0.5) / cell.num_segments)._ref_v, 1.0)
                recs.append(r)
            dend_rec.append(recs)
        cvode = h.CVode()
        cvode.active(0)
        cvode.cache_efficient(1)
        h.secondorder = 0
        h.dt = cell.dt_ms
        # Temperature enters only through the Nernst eca (spec §5.7): NEURON's default 6.3 °C,
        # set explicitly because other cells in the same process (the inverse simulators) set
        # their own.
        h.celsius = CELSIUS
        pc = h.ParallelContext()
        pc.set_maxstep(10)  # no NetCons between cells: any max step is fine
        h.finitialize(V_INIT_MV)
        # psolve integrates in C++ (no per-step hoc loop) and stops after exactly 40·T steps,
        # like continuerun(T).
        pc.psolve(float(duration_ms))
        soma_hr = [np.array(v) for v in soma_rec]
        dend = [np.array([np.array(r)[:duration_ms] for r in recs]) for recs in dend_rec]
        for v in soma_rec:
            v.play_remove()
        for recs in dend_rec:
            for r in recs:
                r.play_remove()
        return soma_hr, dend
