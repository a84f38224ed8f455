"""The batched backend: many ball-and-stick cells integrated together by one compiled kernel.

It implements exactly the scheme of the spec (§5.2, §5.7) that NEURON runs for this cell: the same
spatial discretisation (the zero-area soma(1) node eliminated into r01), backward Euler with every
mechanism's current linearised about V_n by NEURON's 0.001 mV finite difference (which includes
the NMDA Mg-block slope), events applied at step 40k before the currents, then exponential-Euler
(cnexp) updates of Ca, the gates at V_{n+1}, SK with the new Ca, and the synapses. The kinetics
come from :mod:`neurotwin.sim.kinetics`, written once. Spikes are detected online on the 40 kHz
soma trace with the rules of ``scipy.signal.find_peaks`` (strict rise, flat tops to their
left-middle sample, no end samples, height >= threshold), so the 40 kHz trace is kept only on
request.

Design: numba ``@njit(parallel=True)``; cells are independent, so ``prange`` spreads them over
cores and each cell's state lives in a few small local arrays (cache-resident). Every cell may
carry its own parameters (one row of the parameter matrix per cell).
"""

from __future__ import annotations

import math
import types
from collections.abc import Sequence

import numba
import numpy as np

from neurotwin.sim import kinetics as K
from neurotwin.sim.cells.ball_and_stick import (
    SOMA_DENSITIES_S_CM2,
    SOMA_DIAM_UM,
    SOMA_L_UM,
    SYNAPSES,
    V_INIT_MV,
    BallAndStickConfig,
)
from neurotwin.sim.outputs import SimulationResult

_jit = numba.njit(cache=True, inline="always")
nat_rates = _jit(K.nat_rates)
nap_rates = _jit(K.nap_rates)
ktst_rates = _jit(K.ktst_rates)
kpst_rates = _jit(K.kpst_rates)
im_rates = _jit(K.im_rates)
skv3_rates = _jit(K.skv3_rates)
sk_zinf = _jit(K.sk_zinf)
cahva_rates = _jit(K.cahva_rates)
calva_rates = _jit(K.calva_rates)
ih_rates = _jit(K.ih_rates)
nernst_eca = _jit(K.nernst_eca)
cnexp = _jit(K.cnexp)
mg_block = _jit(K.mg_block)

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


def axial_MOhm(length_um: float, diam_um: float, ra: float) -> float:
    return 0.01 * ra * length_um / (math.pi * (diam_um / 2) ** 2)


def param_row(cell: BallAndStickConfig) -> np.ndarray:
    """One cell's parameters in the kernel's layout."""
    p = np.zeros(NUM_PARAMS)
    for i, name in enumerate(CHANNELS):
        scale = cell.rho_factor * (cell.ske2_factor if name == "SK_E2" else 1.0)
        p[i] = SOMA_DENSITIES_S_CM2[name] * scale
    n = cell.num_segments
    syn = SYNAPSES[cell.synapse]
    p[P_GPAS_SOMA] = cell.soma_g_pas_S_cm2
    p[P_GPAS_DEND] = 1.0 / cell.dend_Rm_ohm_cm2
    p[P_EPAS] = V_INIT_MV
    p[P_CM] = cell.cm_uF_cm2
    p[P_DT] = cell.dt_ms
    p[P_AREA_SOMA] = math.pi * SOMA_L_UM * SOMA_DIAM_UM
    p[P_AREA_DEND] = math.pi * cell.dend_diam_um * cell.dend_L_um / n
    p[P_R01] = axial_MOhm(SOMA_L_UM / 2, SOMA_DIAM_UM, cell.Ra_ohm_cm) + axial_MOhm(
        cell.dend_L_um / (2 * n), cell.dend_diam_um, cell.Ra_ohm_cm
    )
    p[P_RDD] = axial_MOhm(cell.dend_L_um / n, cell.dend_diam_um, cell.Ra_ohm_cm)
    p[P_GMAX_AMPA] = syn["gmax_AMPA"]
    p[P_GMAX_NMDA] = syn["gmax_NMDA"]
    p[P_GAMMA_NMDA] = syn["gamma_NMDA"]
    p[P_GMAX_GABA] = cell.g_max_gaba_uS
    p[P_F_AMPA] = K.peak_factor(*TAU_AMPA)
    p[P_F_NMDA] = K.peak_factor(*TAU_NMDA)
    p[P_F_GABA] = K.peak_factor(*TAU_GABA)
    p[P_CAGAMMA] = 0.000509
    p[P_CADECAY] = 294.679571
    return p


@numba.njit(cache=True, inline="always")
def _syn_current(v, a_ampa, b_ampa, a_nmda, b_nmda, a_gaba, b_gaba, p):  # noqa: ANN001, ANN202
    """Synaptic current (nA) at one dendritic node: AMPA + NMDA point process, GABA_A."""
    g_ampa = p[P_GMAX_AMPA] * (b_ampa - a_ampa)
    if p[P_GMAX_NMDA] != 0.0:
        g_nmda = p[P_GMAX_NMDA] * (b_nmda - a_nmda) * mg_block(v, MG, p[P_GAMMA_NMDA])
    else:  # AMPA-only cells: the NMDA term is exactly 0 (saves the Mg-block exponentials)
        g_nmda = 0.0
    exc = g_ampa * (v - E_AMPA) + g_nmda * (v - E_NMDA)
    inh = p[P_GMAX_GABA] * (b_gaba - a_gaba) * (v - E_GABA)
    return exc, inh


@numba.njit(cache=True, inline="always")
def _chan(gate, e, vs, vp):  # noqa: ANN001, ANN202
    """One ohmic channel: (finite-difference slope, current) at vs, NEURON's way."""
    i0 = gate * (vs - e)
    return (gate * (vp - e) - i0) / 0.001, i0


@numba.njit(cache=True)
def _run_cell(
    p, exc, inh, duration, spm, threshold, soma_out, dend_out, hr_out, keep_hr, peaks, work
):  # noqa: ANN001, ANN202
    """Integrate one cell for duration·spm steps; returns the number of spike peaks found.

    ``work`` is scratch of shape (>= 12, >= S + 1): the caller allocates it, so the same source
    runs as a CPU function and as a CUDA device function (with a thread-local array).
    """
    n = exc.shape[0]
    nodes = n + 1
    dt = p[P_DT]
    v = work[0]
    area = work[1]
    c_up = work[2]  # c_up[i] couples node i to i-1, c_dn[i] node i to i+1 (mA/cm2 per mV)
    c_dn = work[3]
    a_ampa = work[4]  # synaptic states of dendritic node i + 1 at index i
    b_ampa = work[5]
    a_nmda = work[6]
    b_nmda = work[7]
    a_gaba = work[8]
    b_gaba = work[9]
    rhs = work[10]
    d = work[11]
    for i in range(nodes):
        v[i] = V_INIT_MV
        area[i] = p[P_AREA_DEND]
        c_up[i] = 0.0
        c_dn[i] = 0.0
        a_ampa[i] = 0.0
        b_ampa[i] = 0.0
        a_nmda[i] = 0.0
        b_nmda[i] = 0.0
        a_gaba[i] = 0.0
        b_gaba[i] = 0.0
    area[0] = p[P_AREA_SOMA]
    for i in range(1, nodes):
        r = p[P_R01] if i == 1 else p[P_RDD]
        c_up[i] = 1e2 / (r * area[i])
        c_dn[i - 1] = 1e2 / (r * area[i - 1])
    cfac = 0.001 / dt * p[P_CM]  # NEURON: (0.001/dt)·cm
    # per-step decay of the synaptic states (cnexp: x + k·(−x))
    k_ar = 1.0 - math.exp(dt * (-1.0 / TAU_AMPA[0]))
    k_ad = 1.0 - math.exp(dt * (-1.0 / TAU_AMPA[1]))
    k_nr = 1.0 - math.exp(dt * (-1.0 / TAU_NMDA[0]))
    k_nd = 1.0 - math.exp(dt * (-1.0 / TAU_NMDA[1]))
    k_gr = 1.0 - math.exp(dt * (-1.0 / TAU_GABA[0]))
    k_gd = 1.0 - math.exp(dt * (-1.0 / TAU_GABA[1]))
    # somatic gates at their steady state at V_INIT, Ca at the ion default
    v0 = v[0]
    cai = K.CAI0_MM
    nts_m, _, nts_h, _ = nat_rates(v0, -32.0, -60.0)
    nta_m, _, nta_h, _ = nat_rates(v0, -38.0, -66.0)
    nap_m, _, nap_h, _ = nap_rates(v0)
    kt_m, _, kt_h, _ = ktst_rates(v0)
    kp_m, _, kp_h, _ = kpst_rates(v0)
    im_m, _ = im_rates(v0)
    sv_m, _ = skv3_rates(v0)
    sk_z = sk_zinf(cai)
    hva_m, _, hva_h, _ = cahva_rates(v0)
    lva_m, _, lva_h, _ = calva_rates(v0)
    ih_m, _ = ih_rates(v0)
    ca_drive = 10000.0 * p[P_CAGAMMA] / (2.0 * K.FARADAY * CA_DEPTH)
    decay = p[P_CADECAY]
    k_ca = 1.0 - math.exp(dt * (-1.0 / decay))

    steps = duration * spm
    npk = 0
    # online find_peaks state: a candidate starts at a strict rise, may extend over a flat top
    prev = v[0]
    cand = False
    cand_left = 0
    cand_val = 0.0
    soma_out[0] = v[0]
    for i in range(n):
        dend_out[i, 0] = v[i + 1]
    if keep_hr:
        hr_out[0] = v[0]
    for step in range(steps):
        # 1. events of bin k land at step 40k
        if step % spm == 0:
            k = step // spm
            for i in range(n):
                w = exc[i, k]
                if w > 0:
                    inc = w * p[P_F_AMPA]
                    a_ampa[i] += inc
                    b_ampa[i] += inc
                    inc = w * p[P_F_NMDA]
                    a_nmda[i] += inc
                    b_nmda[i] += inc
                w = inh[i, k]
                if w > 0:
                    inc = w * p[P_F_GABA]
                    a_gaba[i] += inc
                    b_gaba[i] += inc
        # 2.-3. currents at V_n and their finite-difference slopes, mechanism by mechanism
        eca = nernst_eca(cai)
        vs = v[0]
        vp = vs + 0.001
        g_sum = 0.0
        i_sum = 0.0
        gb = p[P_GPAS_SOMA]
        i0 = gb * (vs - p[P_EPAS])
        g_sum += (gb * (vp - p[P_EPAS]) - i0) / 0.001
        i_sum += i0
        # sodium, potassium, h: I = gbar·gates·(v − E)
        g_fd, i0 = _chan(p[0] * nts_m * nts_m * nts_m * nts_h, ENA, vs, vp)
        g_sum += g_fd
        i_sum += i0
        g_fd, i0 = _chan(p[1] * nta_m * nta_m * nta_m * nta_h, ENA, vs, vp)
        g_sum += g_fd
        i_sum += i0
        g_fd, i0 = _chan(p[2] * nap_m * nap_m * nap_m * nap_h, ENA, vs, vp)
        g_sum += g_fd
        i_sum += i0
        g_fd, i0 = _chan(p[3] * kt_m * kt_m * kt_m * kt_m * kt_h, EK, vs, vp)
        g_sum += g_fd
        i_sum += i0
        g_fd, i0 = _chan(p[4] * kp_m * kp_m * kp_h, EK, vs, vp)
        g_sum += g_fd
        i_sum += i0
        g_fd, i0 = _chan(p[5] * sv_m, EK, vs, vp)
        g_sum += g_fd
        i_sum += i0
        g_fd, i0 = _chan(p[6] * sk_z, EK, vs, vp)
        g_sum += g_fd
        i_sum += i0
        g_fd, i0 = _chan(p[7] * im_m, EK, vs, vp)
        g_sum += g_fd
        i_sum += i0
        g_fd, i0 = _chan(p[10] * ih_m, EHCN, vs, vp)
        g_sum += g_fd
        i_sum += i0
        g_hva = p[8] * hva_m * hva_m * hva_h
        g_lva = p[9] * lva_m * lva_m * lva_h
        i_hva = g_hva * (vs - eca)
        i_lva = g_lva * (vs - eca)
        g_sum += (g_hva * (vp - eca) - i_hva) / 0.001
        g_sum += (g_lva * (vp - eca) - i_lva) / 0.001
        i_sum += i_hva + i_lva
        ica = i_hva + i_lva
        rhs[0] = -i_sum
        d[0] = cfac + g_sum
        for i in range(n):
            node = i + 1
            vd = v[node]
            gd = p[P_GPAS_DEND]
            i0 = gd * (vd - p[P_EPAS])
            g_node = (gd * (vd + 0.001 - p[P_EPAS]) - i0) / 0.001
            i_node = i0
            to_density = 1e2 / area[node]
            e1, h1 = _syn_current(
                vd + 0.001, a_ampa[i], b_ampa[i], a_nmda[i], b_nmda[i], a_gaba[i], b_gaba[i], p
            )
            e0, h0 = _syn_current(
                vd, a_ampa[i], b_ampa[i], a_nmda[i], b_nmda[i], a_gaba[i], b_gaba[i], p
            )
            g_node += (e1 - e0) / 0.001 * to_density + (h1 - h0) / 0.001 * to_density
            i_node += e0 * to_density + h0 * to_density
            rhs[node] = -i_node
            d[node] = cfac + g_node
        # axial currents and couplings
        for node in range(1, nodes):
            dv = v[node - 1] - v[node]
            rhs[node] += c_up[node] * dv
            rhs[node - 1] -= c_dn[node - 1] * dv
            d[node] += c_up[node]
            d[node - 1] += c_dn[node - 1]
        # 4. tridiagonal solve for dV (distal to soma, then back), V += dV
        for node in range(nodes - 1, 0, -1):
            f = c_dn[node - 1] / d[node]
            d[node - 1] -= f * c_up[node]
            rhs[node - 1] += f * rhs[node]
        rhs[0] /= d[0]
        for node in range(1, nodes):
            rhs[node] = (rhs[node] + c_up[node] * rhs[node - 1]) / d[node]
        for node in range(nodes):
            v[node] += rhs[node]
        # 5. states at V_{n+1}: Ca (with ica_n), gates, SK with the new Ca, synapses
        vs = v[0]
        c_inf = (-ca_drive * ica + CA_MIN / decay) * decay
        cai = cai + k_ca * (c_inf - cai)
        m_inf, m_tau, h_inf, h_tau = nat_rates(vs, -32.0, -60.0)
        nts_m = cnexp(nts_m, m_inf, m_tau, dt)
        nts_h = cnexp(nts_h, h_inf, h_tau, dt)
        m_inf, m_tau, h_inf, h_tau = nat_rates(vs, -38.0, -66.0)
        nta_m = cnexp(nta_m, m_inf, m_tau, dt)
        nta_h = cnexp(nta_h, h_inf, h_tau, dt)
        m_inf, m_tau, h_inf, h_tau = nap_rates(vs)
        nap_m = cnexp(nap_m, m_inf, m_tau, dt)
        nap_h = cnexp(nap_h, h_inf, h_tau, dt)
        m_inf, m_tau, h_inf, h_tau = ktst_rates(vs)
        kt_m = cnexp(kt_m, m_inf, m_tau, dt)
        kt_h = cnexp(kt_h, h_inf, h_tau, dt)
        m_inf, m_tau, h_inf, h_tau = kpst_rates(vs)
        kp_m = cnexp(kp_m, m_inf, m_tau, dt)
        kp_h = cnexp(kp_h, h_inf, h_tau, dt)
        m_inf, m_tau = im_rates(vs)
        im_m = cnexp(im_m, m_inf, m_tau, dt)
        m_inf, m_tau = skv3_rates(vs)
        sv_m = cnexp(sv_m, m_inf, m_tau, dt)
        if p[6] != 0.0:  # SK_E2 off: z never reaches the voltage
            sk_z = cnexp(sk_z, sk_zinf(cai), 1.0, dt)
        m_inf, m_tau, h_inf, h_tau = cahva_rates(vs)
        hva_m = cnexp(hva_m, m_inf, m_tau, dt)
        hva_h = cnexp(hva_h, h_inf, h_tau, dt)
        m_inf, m_tau, h_inf, h_tau = calva_rates(vs)
        lva_m = cnexp(lva_m, m_inf, m_tau, dt)
        lva_h = cnexp(lva_h, h_inf, h_tau, dt)
        m_inf, m_tau = ih_rates(vs)
        ih_m = cnexp(ih_m, m_inf, m_tau, dt)
        for i in range(n):
            a_ampa[i] += k_ar * (-a_ampa[i])
            b_ampa[i] += k_ad * (-b_ampa[i])
            a_nmda[i] += k_nr * (-a_nmda[i])
            b_nmda[i] += k_nd * (-b_nmda[i])
            a_gaba[i] += k_gr * (-a_gaba[i])
            b_gaba[i] += k_gd * (-b_gaba[i])
        # 6. record, and find peaks online on the 40 kHz soma trace
        sample = step + 1
        if sample % spm == 0 and sample // spm < duration:
            t_ms = sample // spm
            soma_out[t_ms] = vs
            for i in range(n):
                dend_out[i, t_ms] = v[i + 1]
        if keep_hr:
            hr_out[sample] = vs
        if cand:
            if vs < cand_val:
                if cand_val >= threshold:
                    if npk < peaks.shape[0]:  # the caller checks for overflow
                        peaks[npk] = (cand_left + sample - 1) // 2
                    npk += 1
                cand = False
            elif vs > cand_val:
                cand_left = sample
                cand_val = vs
        elif vs > prev:
            cand = True
            cand_left = sample
            cand_val = vs
        prev = vs
    return npk


WORK_ROWS = 12


@numba.njit(parallel=True, cache=True)
def _run_batch(params, inputs, duration, spm, threshold, soma, dend, hr, keep_hr, peaks, npeaks):  # noqa: ANN001, ANN202
    for b in numba.prange(params.shape[0]):
        work = np.empty((WORK_ROWS, inputs.shape[2] + 1))
        npeaks[b] = _run_cell(
            params[b],
            inputs[b, 0],
            inputs[b, 1],
            duration,
            spm,
            threshold,
            soma[b],
            dend[b],
            hr[b] if keep_hr else hr[0],
            keep_hr,
            peaks[b],
            work,
        )


# -- the same kernel on CUDA ------------------------------------------------------------------
MAX_NODES_CUDA = 257  # thread-local scratch: up to 256 dendritic segments


def _cuda_kernel_source(
    params, inputs, duration, spm, threshold, soma, dend, hr, keep_hr, peaks, npeaks
):  # noqa: ANN001, ANN202
    """One GPU thread per cell; compiled by :func:`cuda_kernel` (the names ``cuda``,
    ``float64`` and ``_run_cell`` resolve to the CUDA target there)."""
    b = cuda.grid(1)  # noqa: F821
    if b < params.shape[0]:
        work = cuda.local.array((WORK_ROWS, MAX_NODES_CUDA), float64)  # noqa: F821
        hr_b = hr[b] if keep_hr else hr[0]
        npeaks[b] = _run_cell(
            params[b],
            inputs[b, 0],
            inputs[b, 1],
            duration,
            spm,
            threshold,
            soma[b],
            dend[b],
            hr_b,
            keep_hr,
            peaks[b],
            work,
        )


def cuda_kernel():  # noqa: ANN201
    """Compile ``_run_cell`` as a CUDA device function (one thread per cell) from the same
    Python source, with the kinetics compiled as device functions. Needs numba's CUDA target
    (a GPU, or NUMBA_ENABLE_CUDASIM=1 for the simulator used by the tests)."""
    from numba import cuda, float64

    scope = dict(_run_cell.py_func.__globals__)
    for fn in K.KINETICS:
        scope[fn.__name__] = cuda.jit(device=True)(fn)
    for helper in (_chan, _syn_current, _run_cell):
        py = helper.py_func
        scope[py.__name__] = cuda.jit(device=True)(
            types.FunctionType(py.__code__, scope, py.__name__, py.__defaults__)
        )
    scope["cuda"] = cuda
    scope["float64"] = float64
    kernel = cuda.jit(types.FunctionType(_cuda_kernel_source.__code__, scope, "nt_kernel"))
    return kernel


def cuda_available() -> bool:
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - no CUDA target in this numba build
        return False


def _launch_cuda(
    params, x, duration, spm, threshold, soma, dend, hr, keep_hr, peaks, npeaks
) -> None:  # noqa: ANN001
    from numba import cuda

    kernel = _CUDA_KERNEL.get("kernel")
    if kernel is None:
        kernel = _CUDA_KERNEL["kernel"] = cuda_kernel()
    dev = {
        k: cuda.to_device(a)
        for k, a in (
            ("soma", soma),
            ("dend", dend),
            ("hr", hr),
            ("peaks", peaks),
            ("npeaks", npeaks),
        )
    }
    threads = 64
    blocks = (params.shape[0] + threads - 1) // threads
    kernel[blocks, threads](
        cuda.to_device(params),
        cuda.to_device(x),
        duration,
        spm,
        threshold,
        dev["soma"],
        dev["dend"],
        dev["hr"],
        keep_hr,
        dev["peaks"],
        dev["npeaks"],
    )
    for name, host in (
        ("soma", soma),
        ("dend", dend),
        ("hr", hr),
        ("peaks", peaks),
        ("npeaks", npeaks),
    ):
        dev[name].copy_to_host(host)


_CUDA_KERNEL: dict[str, object] = {}


def simulate_batched(
    cells: BallAndStickConfig | Sequence[BallAndStickConfig],
    inputs: np.ndarray,
    keep_hr: bool = False,
    device: str = "auto",
) -> list[SimulationResult]:
    """Simulate a batch (B, 2, S, T) with one cell config or one per simulation (same S, dt
    and output settings). ``device``: ``"cpu"`` (numba threads over cells), ``"cuda"`` (one GPU
    thread per cell), or ``"auto"`` (CUDA when a GPU is present)."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    use_cuda = device == "cuda" or (device == "auto" and cuda_available())
    batch = inputs.shape[0]
    cell_list = [cells] * batch if isinstance(cells, BallAndStickConfig) else list(cells)
    if len(cell_list) != batch:
        raise ValueError(f"got {len(cell_list)} cell configs for {batch} input arrays")
    first = cell_list[0]
    for c in cell_list:
        if (c.num_segments, c.dt_ms, c.spike_threshold_mV) != (
            first.num_segments,
            first.dt_ms,
            first.spike_threshold_mV,
        ):
            raise ValueError(
                "cells of one batch must share num_segments, dt_ms and spike_threshold_mV"
            )
    duration = inputs.shape[-1]
    spm = first.samples_per_ms
    params = np.stack([param_row(c) for c in cell_list])
    x = np.ascontiguousarray(inputs, dtype=np.float64)
    soma = np.empty((batch, duration))
    dend = np.empty((batch, first.num_segments, duration))
    hr = np.empty((batch if keep_hr else 1, duration * spm + 1))
    peaks = np.empty((batch, duration + 1), dtype=np.int64)
    npeaks = np.empty(batch, dtype=np.int64)
    if use_cuda and first.num_segments + 1 > MAX_NODES_CUDA:
        raise ValueError(f"the CUDA kernel supports up to {MAX_NODES_CUDA - 1} segments")
    run = _launch_cuda if use_cuda else _run_batch
    run(params, x, duration, spm, first.spike_threshold_mV, soma, dend, hr, keep_hr, peaks, npeaks)
    if np.any(npeaks > peaks.shape[1]):
        raise RuntimeError(f"more than {peaks.shape[1]} spike peaks in one simulation")
    results = []
    for b in range(batch):
        idx = peaks[b, : npeaks[b]]
        bins = idx // spm
        keep = bins < duration
        spikes = np.zeros(duration, dtype=bool)
        spikes[bins[keep]] = True
        results.append(
            SimulationResult(
                soma_v=soma[b].astype(np.float32),
                dend_v=dend[b].astype(np.float32),
                spike_times_ms=idx[keep] / float(spm),
                spikes=spikes,
                soma_v_hr=hr[b].astype(np.float32) if keep_hr else None,
            )
        )
    return results
