"""The batched backend's kernel: one block of ``LANES`` ball-and-stick cells advanced in lockstep.

Every loop over a block's cells is the innermost loop and touches the cells' state at
consecutive addresses (state ``q`` of lane ``j`` at ``q·LANES + j``), so LLVM turns it into
vector instructions (8 float64 lanes with AVX-512) once the elementary functions are
vectorisable. The source is compiled in several *variants* (:func:`compile_variant`), which bind
the names ``LANES`` and the kinetics' ``exp``/``log``/``power`` differently:

``fast``     ``LANES = 16``, :mod:`neurotwin.sim.fastmath` (vectorised; the CPU default)
``fast1``    ``LANES = 1``, the same functions: bit-identical per cell to ``fast`` (IEEE +, −,
             ×, ÷ round the same in a vector lane), used for the cells that do not fill a block
``exact``    ``LANES = 1``, the C library: the operation-for-operation twin of NEURON (every
             float32 sample equal in the tests), slower
``cuda``     ``LANES = 1`` as a CUDA device function (one GPU thread per cell)

The scheme (spec §5.2, §5.7) is NEURON's: the zero-area soma(1) node eliminated into r01,
backward Euler with every mechanism's current linearised about V_n by a 0.001 mV finite
difference (so the NMDA Jacobian includes the Mg-block slope), events at step 40k before the
currents, then cnexp updates of Ca, the gates at V_{n+1}, SK with the new Ca, the synapses.
Spikes are found online with the rules of ``scipy.signal.find_peaks`` on the 40 kHz soma trace.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import types
from pathlib import Path
from typing import Any

import numba
import numpy as np

from neurotwin.sim import fastmath
from neurotwin.sim import kinetics as K
from neurotwin.sim.cells.ball_and_stick import V_INIT_MV

# -- the parameter row of one cell ------------------------------------------------------------
CHANNELS = (
    "NaTs2_t",
    "NaTa_t",
    "Nap_Et2",
    "K_Tst",
    "K_Pst",
    "SKv3_1",
    "SK_E2",
    "Im",
    "Ca_HVA",
    "Ca_LVAst",
    "Ih",
)
(
    P_GPAS_SOMA,
    P_GPAS_DEND,
    P_EPAS,
    P_CM,
    P_DT,
    P_AREA_SOMA,
    P_AREA_DEND,
    P_R01,
    P_RDD,
    P_GMAX_AMPA,
    P_GMAX_NMDA,
    P_GAMMA_NMDA,
    P_GMAX_GABA,
    P_F_AMPA,
    P_F_NMDA,
    P_F_GABA,
    P_CAGAMMA,
    P_CADECAY,
) = range(len(CHANNELS), len(CHANNELS) + 18)
NUM_PARAMS = len(CHANNELS) + 18
ENA, EK, EHCN, E_GABA, E_AMPA, E_NMDA, MG = 50.0, -85.0, -45.0, -85.0, 0.0, 0.0, 1.0
CA_DEPTH, CA_MIN = 0.1, 1e-4
TAU_AMPA, TAU_NMDA, TAU_GABA = (0.3, 3.0), (2.0, 70.0), (0.2, 8.0)

# -- the block's state: per-lane rows (sc), per-node rows (nd), integer rows (si) -------------
(
    G_NTS_M,
    G_NTS_H,
    G_NTA_M,
    G_NTA_H,
    G_NAP_M,
    G_NAP_H,
    G_KT_M,
    G_KT_H,
    G_KP_M,
    G_KP_H,
    G_IM_M,
    G_SV_M,
    G_SK_Z,
    G_HVA_M,
    G_HVA_H,
    G_LVA_M,
    G_LVA_H,
    G_IH_M,
    S_CAI,
    S_ICA,
    S_CFAC,
    S_KCA,
    S_CADRIVE,
    S_PREV,
    S_CANDVAL,
    S_P0,
) = range(26)
NUM_GATES = S_CAI
SC_ROWS = S_P0 + NUM_PARAMS  # the cell's parameters are rows S_P0 + P_*
N_V, N_AREA, N_CUP, N_CDN, N_RHS, N_D = range(6)  # c_up: node i to i-1; c_dn: node i to i+1
Y_A_AMPA, Y_B_AMPA, Y_A_NMDA, Y_B_NMDA, Y_A_GABA, Y_B_GABA = range(6, 12)  # node i's synapses
ND_ROWS = 12  # rows per node
I_CAND, I_LEFT, I_NPK = range(3)
SI_ROWS = 3
LANES = 16  # rebound per variant


def _syn_current(v, a_ampa, b_ampa, a_nmda, b_nmda, a_gaba, b_gaba, g_ampa, g_nmda, gamma, g_gaba):  # noqa: ANN001, ANN202, E501
    """Synaptic current (nA) at one dendritic node: AMPA + NMDA point process, GABA_A."""
    ga = g_ampa * (b_ampa - a_ampa)
    if g_nmda != 0.0:  # noqa: SIM108
        gn = g_nmda * (b_nmda - a_nmda) * mg_block(v, MG, gamma)  # noqa: F821
    else:  # AMPA-only cells: the NMDA term is exactly 0
        gn = 0.0
    exc = ga * (v - E_AMPA) + gn * (v - E_NMDA)
    inh = g_gaba * (b_gaba - a_gaba) * (v - E_GABA)
    return exc, inh


def _chan(gate, e, vs, vp):  # noqa: ANN001, ANN202
    """One ohmic channel: (finite-difference slope, current) at vs, NEURON's way."""
    i0 = gate * (vs - e)
    return (gate * (vp - e) - i0) / 0.001, i0


def _run_lanes(
    prm,
    g0,
    exc,
    inh,
    duration,
    spm,
    threshold,
    soma_out,
    dend_out,
    hr_out,
    keep_hr,
    peaks,
    npk_out,
    sc,
    si,
    nd,
):  # noqa: ANN001, ANN202, E501, C901, PLR0915
    """Integrate ``LANES`` cells for ``duration·spm`` steps.

    prm (LANES, NUM_PARAMS); g0 (NUM_GATES,) the gates at rest (:func:`initial_gates`);
    exc, inh (LANES, S, T); soma_out (LANES, T); dend_out (LANES, S, T);
    hr_out (LANES, steps + 1) if keep_hr; peaks (LANES, P) spike-peak step indices, npk_out
    (LANES,) their counts; sc, si, nd scratch of SC_ROWS·LANES, SI_ROWS·LANES, ND_ROWS·(S+1)·LANES.
    """
    L = LANES
    n = exc.shape[1]
    nodes = n + 1
    dt = prm[0, P_DT]
    for j in range(L):
        for k in range(NUM_PARAMS):
            sc[(S_P0 + k) * L + j] = prm[j, k]
    for node in range(nodes):
        o = node * ND_ROWS * L
        for j in range(L):
            nd[o + N_V * L + j] = V_INIT_MV
            nd[o + N_AREA * L + j] = sc[(S_P0 + P_AREA_DEND) * L + j]
            nd[o + N_CUP * L + j] = 0.0
            nd[o + N_CDN * L + j] = 0.0
            for q in range(Y_A_AMPA, ND_ROWS):
                nd[o + q * L + j] = 0.0
    for j in range(L):
        nd[N_AREA * L + j] = sc[(S_P0 + P_AREA_SOMA) * L + j]
    for node in range(1, nodes):
        o = node * ND_ROWS * L
        for j in range(L):
            r = sc[(S_P0 + P_R01) * L + j] if node == 1 else sc[(S_P0 + P_RDD) * L + j]
            nd[o + N_CUP * L + j] = 1e2 / (r * nd[o + N_AREA * L + j])
            nd[o - ND_ROWS * L + N_CDN * L + j] = 1e2 / (r * nd[o - ND_ROWS * L + N_AREA * L + j])
    # per-step decay of the synaptic states (cnexp: x + k·(−x))
    k_ar = 1.0 - exp(dt * (-1.0 / TAU_AMPA[0]))  # noqa: F821
    k_ad = 1.0 - exp(dt * (-1.0 / TAU_AMPA[1]))  # noqa: F821
    k_nr = 1.0 - exp(dt * (-1.0 / TAU_NMDA[0]))  # noqa: F821
    k_nd = 1.0 - exp(dt * (-1.0 / TAU_NMDA[1]))  # noqa: F821
    k_gr = 1.0 - exp(dt * (-1.0 / TAU_GABA[0]))  # noqa: F821
    k_gd = 1.0 - exp(dt * (-1.0 / TAU_GABA[1]))  # noqa: F821
    for j in range(L):
        # somatic gates at their steady state at V_INIT (g0, the same for every cell), Ca at
        # the ion default
        v0 = nd[N_V * L + j]
        sc[S_CFAC * L + j] = 0.001 / dt * sc[(S_P0 + P_CM) * L + j]  # NEURON: (0.001/dt)·cm
        sc[S_CAI * L + j] = K.CAI0_MM
        sc[S_ICA * L + j] = 0.0
        for q in range(NUM_GATES):
            sc[q * L + j] = g0[q]
        decay = sc[(S_P0 + P_CADECAY) * L + j]
        sc[S_CADRIVE * L + j] = (
            10000.0 * sc[(S_P0 + P_CAGAMMA) * L + j] / (2.0 * K.FARADAY * CA_DEPTH)
        )
        sc[S_KCA * L + j] = 1.0 - exp(dt * (-1.0 / decay))  # noqa: F821
        # online find_peaks state: a candidate starts at a strict rise, may extend over a top
        sc[S_PREV * L + j] = v0
        sc[S_CANDVAL * L + j] = 0.0
        si[I_CAND * L + j] = 0
        si[I_LEFT * L + j] = 0
        si[I_NPK * L + j] = 0
        soma_out[j, 0] = v0
        for i in range(n):
            dend_out[j, i, 0] = nd[(i + 1) * ND_ROWS * L + N_V * L + j]
        if keep_hr:
            hr_out[j, 0] = v0

    steps = duration * spm
    for step in range(steps):
        # 1. events of bin k land at step 40k
        if step % spm == 0:
            k = step // spm
            for j in range(L):
                for i in range(n):
                    o = (i + 1) * ND_ROWS * L + j
                    w = exc[j, i, k]
                    if w > 0:
                        inc = w * sc[(S_P0 + P_F_AMPA) * L + j]
                        nd[o + Y_A_AMPA * L] += inc
                        nd[o + Y_B_AMPA * L] += inc
                        inc = w * sc[(S_P0 + P_F_NMDA) * L + j]
                        nd[o + Y_A_NMDA * L] += inc
                        nd[o + Y_B_NMDA * L] += inc
                    w = inh[j, i, k]
                    if w > 0:
                        inc = w * sc[(S_P0 + P_F_GABA) * L + j]
                        nd[o + Y_A_GABA * L] += inc
                        nd[o + Y_B_GABA * L] += inc
        # 2.-3. somatic currents at V_n and their finite-difference slopes
        for j in range(L):
            eca = nernst_eca(sc[S_CAI * L + j])  # noqa: F821
            vs = nd[N_V * L + j]
            vp = vs + 0.001
            g_sum = 0.0
            i_sum = 0.0
            gb = sc[(S_P0 + P_GPAS_SOMA) * L + j]
            epas = sc[(S_P0 + P_EPAS) * L + j]
            i0 = gb * (vs - epas)
            g_sum += (gb * (vp - epas) - i0) / 0.001
            i_sum += i0
            m = sc[G_NTS_M * L + j]
            g_fd, i0 = _chan(sc[S_P0 * L + j] * m * m * m * sc[G_NTS_H * L + j], ENA, vs, vp)
            g_sum += g_fd
            i_sum += i0
            m = sc[G_NTA_M * L + j]
            g_fd, i0 = _chan(sc[(S_P0 + 1) * L + j] * m * m * m * sc[G_NTA_H * L + j], ENA, vs, vp)
            g_sum += g_fd
            i_sum += i0
            m = sc[G_NAP_M * L + j]
            g_fd, i0 = _chan(sc[(S_P0 + 2) * L + j] * m * m * m * sc[G_NAP_H * L + j], ENA, vs, vp)
            g_sum += g_fd
            i_sum += i0
            m = sc[G_KT_M * L + j]
            g_fd, i0 = _chan(
                sc[(S_P0 + 3) * L + j] * m * m * m * m * sc[G_KT_H * L + j], EK, vs, vp
            )
            g_sum += g_fd
            i_sum += i0
            m = sc[G_KP_M * L + j]
            g_fd, i0 = _chan(sc[(S_P0 + 4) * L + j] * m * m * sc[G_KP_H * L + j], EK, vs, vp)
            g_sum += g_fd
            i_sum += i0
            g_fd, i0 = _chan(sc[(S_P0 + 5) * L + j] * sc[G_SV_M * L + j], EK, vs, vp)
            g_sum += g_fd
            i_sum += i0
            g_fd, i0 = _chan(sc[(S_P0 + 6) * L + j] * sc[G_SK_Z * L + j], EK, vs, vp)
            g_sum += g_fd
            i_sum += i0
            g_fd, i0 = _chan(sc[(S_P0 + 7) * L + j] * sc[G_IM_M * L + j], EK, vs, vp)
            g_sum += g_fd
            i_sum += i0
            g_fd, i0 = _chan(sc[(S_P0 + 10) * L + j] * sc[G_IH_M * L + j], EHCN, vs, vp)
            g_sum += g_fd
            i_sum += i0
            m = sc[G_HVA_M * L + j]
            g_hva = sc[(S_P0 + 8) * L + j] * m * m * sc[G_HVA_H * L + j]
            m = sc[G_LVA_M * L + j]
            g_lva = sc[(S_P0 + 9) * L + j] * m * m * sc[G_LVA_H * L + j]
            i_hva = g_hva * (vs - eca)
            i_lva = g_lva * (vs - eca)
            g_sum += (g_hva * (vp - eca) - i_hva) / 0.001
            g_sum += (g_lva * (vp - eca) - i_lva) / 0.001
            i_sum += i_hva + i_lva
            sc[S_ICA * L + j] = i_hva + i_lva
            nd[N_RHS * L + j] = -i_sum
            nd[N_D * L + j] = sc[S_CFAC * L + j] + g_sum
        # dendritic nodes: leak and synapses
        for node in range(1, nodes):
            o = node * ND_ROWS * L
            for j in range(L):
                vd = nd[o + N_V * L + j]
                gd = sc[(S_P0 + P_GPAS_DEND) * L + j]
                epas = sc[(S_P0 + P_EPAS) * L + j]
                i0 = gd * (vd - epas)
                g_node = (gd * (vd + 0.001 - epas) - i0) / 0.001
                i_node = i0
                to_density = 1e2 / nd[o + N_AREA * L + j]
                a_ampa = nd[o + Y_A_AMPA * L + j]
                b_ampa = nd[o + Y_B_AMPA * L + j]
                a_nmda = nd[o + Y_A_NMDA * L + j]
                b_nmda = nd[o + Y_B_NMDA * L + j]
                a_gaba = nd[o + Y_A_GABA * L + j]
                b_gaba = nd[o + Y_B_GABA * L + j]
                g_ampa = sc[(S_P0 + P_GMAX_AMPA) * L + j]
                g_nmda = sc[(S_P0 + P_GMAX_NMDA) * L + j]
                gamma = sc[(S_P0 + P_GAMMA_NMDA) * L + j]
                g_gaba = sc[(S_P0 + P_GMAX_GABA) * L + j]
                e1, h1 = _syn_current(
                    vd + 0.001, a_ampa, b_ampa, a_nmda, b_nmda, a_gaba, b_gaba,
                    g_ampa, g_nmda, gamma, g_gaba,
                )  # fmt: skip
                e0, h0 = _syn_current(
                    vd, a_ampa, b_ampa, a_nmda, b_nmda, a_gaba, b_gaba,
                    g_ampa, g_nmda, gamma, g_gaba,
                )  # fmt: skip
                g_node += (e1 - e0) / 0.001 * to_density + (h1 - h0) / 0.001 * to_density
                i_node += e0 * to_density + h0 * to_density
                nd[o + N_RHS * L + j] = -i_node
                nd[o + N_D * L + j] = sc[S_CFAC * L + j] + g_node
        # axial currents and couplings
        for node in range(1, nodes):
            o = node * ND_ROWS * L
            u = o - ND_ROWS * L
            for j in range(L):
                dv = nd[u + N_V * L + j] - nd[o + N_V * L + j]
                nd[o + N_RHS * L + j] += nd[o + N_CUP * L + j] * dv
                nd[u + N_RHS * L + j] -= nd[u + N_CDN * L + j] * dv
                nd[o + N_D * L + j] += nd[o + N_CUP * L + j]
                nd[u + N_D * L + j] += nd[u + N_CDN * L + j]
        # 4. tridiagonal solve for dV (distal to soma, then back), V += dV
        for node in range(nodes - 1, 0, -1):
            o = node * ND_ROWS * L
            u = o - ND_ROWS * L
            for j in range(L):
                f = nd[u + N_CDN * L + j] / nd[o + N_D * L + j]
                nd[u + N_D * L + j] -= f * nd[o + N_CUP * L + j]
                nd[u + N_RHS * L + j] += f * nd[o + N_RHS * L + j]
        for j in range(L):
            nd[N_RHS * L + j] /= nd[N_D * L + j]
        for node in range(1, nodes):
            o = node * ND_ROWS * L
            u = o - ND_ROWS * L
            for j in range(L):
                nd[o + N_RHS * L + j] = (
                    nd[o + N_RHS * L + j] + nd[o + N_CUP * L + j] * nd[u + N_RHS * L + j]
                ) / nd[o + N_D * L + j]
        for node in range(nodes):
            o = node * ND_ROWS * L
            for j in range(L):
                nd[o + N_V * L + j] += nd[o + N_RHS * L + j]
        # 5. states at V_{n+1}: Ca (with ica_n), gates, SK with the new Ca
        for j in range(L):
            vs = nd[N_V * L + j]
            decay = sc[(S_P0 + P_CADECAY) * L + j]
            c_inf = (-sc[S_CADRIVE * L + j] * sc[S_ICA * L + j] + CA_MIN / decay) * decay
            cai = sc[S_CAI * L + j]
            cai = cai + sc[S_KCA * L + j] * (c_inf - cai)
            sc[S_CAI * L + j] = cai
            m_inf, m_tau, h_inf, h_tau = nat_rates(vs, -32.0, -60.0)  # noqa: F821
            sc[G_NTS_M * L + j] = cnexp(sc[G_NTS_M * L + j], m_inf, m_tau, dt)  # noqa: F821
            sc[G_NTS_H * L + j] = cnexp(sc[G_NTS_H * L + j], h_inf, h_tau, dt)  # noqa: F821
            m_inf, m_tau, h_inf, h_tau = nat_rates(vs, -38.0, -66.0)  # noqa: F821
            sc[G_NTA_M * L + j] = cnexp(sc[G_NTA_M * L + j], m_inf, m_tau, dt)  # noqa: F821
            sc[G_NTA_H * L + j] = cnexp(sc[G_NTA_H * L + j], h_inf, h_tau, dt)  # noqa: F821
            m_inf, m_tau, h_inf, h_tau = nap_rates(vs)  # noqa: F821
            sc[G_NAP_M * L + j] = cnexp(sc[G_NAP_M * L + j], m_inf, m_tau, dt)  # noqa: F821
            sc[G_NAP_H * L + j] = cnexp(sc[G_NAP_H * L + j], h_inf, h_tau, dt)  # noqa: F821
            m_inf, m_tau, h_inf, h_tau = ktst_rates(vs)  # noqa: F821
            sc[G_KT_M * L + j] = cnexp(sc[G_KT_M * L + j], m_inf, m_tau, dt)  # noqa: F821
            sc[G_KT_H * L + j] = cnexp(sc[G_KT_H * L + j], h_inf, h_tau, dt)  # noqa: F821
            m_inf, m_tau, h_inf, h_tau = kpst_rates(vs)  # noqa: F821
            sc[G_KP_M * L + j] = cnexp(sc[G_KP_M * L + j], m_inf, m_tau, dt)  # noqa: F821
            sc[G_KP_H * L + j] = cnexp(sc[G_KP_H * L + j], h_inf, h_tau, dt)  # noqa: F821
            m_inf, m_tau = im_rates(vs)  # noqa: F821
            sc[G_IM_M * L + j] = cnexp(sc[G_IM_M * L + j], m_inf, m_tau, dt)  # noqa: F821
            m_inf, m_tau = skv3_rates(vs)  # noqa: F821
            sc[G_SV_M * L + j] = cnexp(sc[G_SV_M * L + j], m_inf, m_tau, dt)  # noqa: F821
            if sc[(S_P0 + 6) * L + j] != 0.0:  # SK_E2 off: z never reaches the voltage
                sc[G_SK_Z * L + j] = cnexp(sc[G_SK_Z * L + j], sk_zinf(cai), 1.0, dt)  # noqa: F821
            m_inf, m_tau, h_inf, h_tau = cahva_rates(vs)  # noqa: F821
            sc[G_HVA_M * L + j] = cnexp(sc[G_HVA_M * L + j], m_inf, m_tau, dt)  # noqa: F821
            sc[G_HVA_H * L + j] = cnexp(sc[G_HVA_H * L + j], h_inf, h_tau, dt)  # noqa: F821
            m_inf, m_tau, h_inf, h_tau = calva_rates(vs)  # noqa: F821
            sc[G_LVA_M * L + j] = cnexp(sc[G_LVA_M * L + j], m_inf, m_tau, dt)  # noqa: F821
            sc[G_LVA_H * L + j] = cnexp(sc[G_LVA_H * L + j], h_inf, h_tau, dt)  # noqa: F821
            m_inf, m_tau = ih_rates(vs)  # noqa: F821
            sc[G_IH_M * L + j] = cnexp(sc[G_IH_M * L + j], m_inf, m_tau, dt)  # noqa: F821
        # the synapses
        for node in range(1, nodes):
            o = node * ND_ROWS * L
            for j in range(L):
                nd[o + Y_A_AMPA * L + j] += k_ar * (-nd[o + Y_A_AMPA * L + j])
                nd[o + Y_B_AMPA * L + j] += k_ad * (-nd[o + Y_B_AMPA * L + j])
                nd[o + Y_A_NMDA * L + j] += k_nr * (-nd[o + Y_A_NMDA * L + j])
                nd[o + Y_B_NMDA * L + j] += k_nd * (-nd[o + Y_B_NMDA * L + j])
                nd[o + Y_A_GABA * L + j] += k_gr * (-nd[o + Y_A_GABA * L + j])
                nd[o + Y_B_GABA * L + j] += k_gd * (-nd[o + Y_B_GABA * L + j])
        # 6. record, and find peaks online on the 40 kHz soma trace
        sample = step + 1
        if sample % spm == 0 and sample // spm < duration:
            t_ms = sample // spm
            for j in range(L):
                soma_out[j, t_ms] = nd[N_V * L + j]
                for i in range(n):
                    dend_out[j, i, t_ms] = nd[(i + 1) * ND_ROWS * L + N_V * L + j]
        for j in range(L):
            vs = nd[N_V * L + j]
            if keep_hr:
                hr_out[j, sample] = vs
            cand_val = sc[S_CANDVAL * L + j]
            if si[I_CAND * L + j] != 0:
                if vs < cand_val:
                    if cand_val >= threshold:
                        npk = si[I_NPK * L + j]
                        if npk < peaks.shape[1]:  # the caller checks for overflow
                            peaks[j, npk] = (si[I_LEFT * L + j] + sample - 1) // 2
                        si[I_NPK * L + j] = npk + 1
                    si[I_CAND * L + j] = 0
                elif vs > cand_val:
                    si[I_LEFT * L + j] = sample
                    sc[S_CANDVAL * L + j] = vs
            elif vs > sc[S_PREV * L + j]:
                si[I_CAND * L + j] = 1
                si[I_LEFT * L + j] = sample
                sc[S_CANDVAL * L + j] = vs
            sc[S_PREV * L + j] = vs
    for j in range(L):
        npk_out[j] = si[I_NPK * L + j]


def _run_blocks(
    params, g0, inputs, duration, spm, threshold, soma, dend, hr, keep_hr, peaks, npeaks
):  # noqa: ANN001, ANN202, E501
    """Blocks of LANES cells spread over the cores (the batch is a multiple of LANES)."""
    n = inputs.shape[2]
    for blk in numba.prange(params.shape[0] // LANES):
        b0 = blk * LANES
        b1 = b0 + LANES
        sc = np.empty(SC_ROWS * LANES)
        si = np.empty(SI_ROWS * LANES, dtype=np.int64)
        nd = np.empty(ND_ROWS * (n + 1) * LANES)
        _run_lanes(
            params[b0:b1], g0, inputs[b0:b1, 0], inputs[b0:b1, 1], duration, spm, threshold,
            soma[b0:b1], dend[b0:b1], hr[b0:b1] if keep_hr else hr[0:1], keep_hr,
            peaks[b0:b1], npeaks[b0:b1], sc, si, nd,
        )  # fmt: skip


def initial_gates() -> np.ndarray:
    """The somatic gates at their steady state at V_INIT_MV, SK's z at the initial Ca, in the
    order of the G_* rows (computed once, with the C library's functions, on the host)."""
    v0 = V_INIT_MV
    g = np.empty(NUM_GATES)
    g[G_NTS_M], _, g[G_NTS_H], _ = K.nat_rates(v0, -32.0, -60.0)
    g[G_NTA_M], _, g[G_NTA_H], _ = K.nat_rates(v0, -38.0, -66.0)
    g[G_NAP_M], _, g[G_NAP_H], _ = K.nap_rates(v0)
    g[G_KT_M], _, g[G_KT_H], _ = K.ktst_rates(v0)
    g[G_KP_M], _, g[G_KP_H], _ = K.kpst_rates(v0)
    g[G_IM_M], _ = K.im_rates(v0)
    g[G_SV_M], _ = K.skv3_rates(v0)
    g[G_SK_Z] = K.sk_zinf(K.CAI0_MM)
    g[G_HVA_M], _, g[G_HVA_H], _ = K.cahva_rates(v0)
    g[G_LVA_M], _, g[G_LVA_H], _ = K.calva_rates(v0)
    g[G_IH_M], _ = K.ih_rates(v0)
    return g


# -- compiling the variants --------------------------------------------------------------------
FAST_FLAGS = {"arcp"}
"""LLVM fast-math flags of the ``fast`` variants: ``arcp`` lets x / c become x · (1/c)."""
VARIANTS = {"fast": (16, "fast"), "fast1": (1, "fast"), "exact": (1, "libm")}
_COMPILED: dict[str, Any] = {}


def _source_digest() -> str:
    """Hash of the sources a compiled variant depends on: it names the cached machine code, so
    an edit of the kinetics or of this kernel never runs stale code from numba's cache."""
    h = hashlib.sha256()
    for mod in (K, fastmath):
        h.update(Path(inspect.getfile(mod)).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:12]


def _scope(lanes: int, maths: str, jit: Any) -> dict[str, Any]:
    """This module's globals with ``LANES`` and the kinetics rebound, each kinetics function
    compiled by ``jit`` in a copy of the kinetics module's globals with the chosen maths."""
    scope = dict(globals())
    scope["LANES"] = lanes
    kin = dict(K.__dict__)
    if maths == "fast":
        kin.update(exp=fastmath.exp, log=fastmath.log, power=fastmath.power)
        scope["exp"] = fastmath.exp
    else:
        scope["exp"] = math.exp
    for fn in K.KINETICS:
        scope[fn.__name__] = kin[fn.__name__] = jit(_rebind(fn, kin))
    for helper in (_chan, _syn_current):
        scope[helper.__name__] = jit(_rebind(helper, scope))
    return scope


def _rebind(fn: Any, scope: dict[str, Any], name: str | None = None) -> Any:
    out = types.FunctionType(fn.__code__, scope, name or fn.__name__, fn.__defaults__)
    out.__qualname__ = name or fn.__qualname__
    return out


def compile_variant(name: str) -> Any:
    """The block launcher of CPU variant ``name`` (``fast``, ``fast1``, ``exact``), compiled on
    first use (and cached on disk by numba, keyed by the sources' hash)."""
    if name in _COMPILED:
        return _COMPILED[name]
    if name not in VARIANTS:
        raise ValueError(f"unknown kernel variant {name!r}; valid: {', '.join(VARIANTS)}")
    lanes, maths = VARIANTS[name]
    opts: dict[str, Any] = {"error_model": "numpy", "cache": True}
    if maths == "fast":  # divisions by constants become multiplications by their reciprocal
        opts["fastmath"] = FAST_FLAGS
    scope = _scope(lanes, maths, numba.njit(inline="always", error_model="numpy"))
    tag = f"{name}_{_source_digest()}"
    scope["_run_lanes"] = numba.njit(**opts)(_rebind(_run_lanes, scope, f"run_lanes_{tag}"))
    launcher = numba.njit(parallel=True, **opts)(_rebind(_run_blocks, scope, f"blocks_{tag}"))
    _COMPILED[name] = launcher
    return launcher


def cuda_kernel() -> Any:
    """The kernel as a CUDA device function, one GPU thread per cell (``LANES = 1``, the C
    library's maths as CUDA's libdevice). Needs numba's CUDA target (a GPU, or
    ``NUMBA_ENABLE_CUDASIM=1`` for the simulator used by the tests)."""
    from numba import cuda, float64, int64

    scope = _scope(1, "libm", cuda.jit(device=True))
    scope["_run_lanes"] = cuda.jit(device=True)(_rebind(_run_lanes, scope))
    scope.update(cuda=cuda, float64=float64, int64=int64, MAX_NODES=MAX_NODES_CUDA)
    return cuda.jit(_rebind(_cuda_kernel_source, scope, "nt_kernel"))


MAX_NODES_CUDA = 257  # thread-local scratch: up to 256 dendritic segments


def _cuda_kernel_source(
    params, g0, inputs, duration, spm, threshold, soma, dend, hr, keep_hr, peaks, npeaks
):  # noqa: ANN001, ANN202, E501
    """One GPU thread per cell; compiled by :func:`cuda_kernel`."""
    b = cuda.grid(1)  # noqa: F821
    if b < params.shape[0]:
        sc = cuda.local.array(SC_ROWS, float64)  # noqa: F821
        si = cuda.local.array(SI_ROWS, int64)  # noqa: F821
        nd = cuda.local.array(ND_ROWS * MAX_NODES, float64)  # noqa: F821
        h = b if keep_hr else 0
        _run_lanes(
            params[b : b + 1], g0, inputs[b : b + 1, 0], inputs[b : b + 1, 1], duration, spm,
            threshold, soma[b : b + 1], dend[b : b + 1], hr[h : h + 1], keep_hr,
            peaks[b : b + 1], npeaks[b : b + 1], sc, si, nd,
        )  # fmt: skip
