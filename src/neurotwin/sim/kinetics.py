"""Channel and synapse kinetics of the ball-and-stick soma, written once as scalar functions.

These plain-Python functions mirror our NMODL files operation for operation (same formulas, same
singularity guards, same order of floating-point operations), so the batched backend reproduces
NEURON to rounding. :mod:`neurotwin.sim.batched` compiles them with numba for the CPU; the same
source can be compiled as CUDA device functions (``numba.cuda.jit(device=True)``).

Every ``*_rates(v)`` returns ``(m_inf, m_tau, h_inf, h_tau)`` (or the single-gate pair), in ms.

The elementary functions are the module-level names ``exp``, ``log`` and ``power`` (the C
library's here). A kernel may compile these functions with other bindings of those names: the
batched CPU kernel uses :mod:`neurotwin.sim.fastmath`, whose polynomial versions vectorise.
"""

from __future__ import annotations

from math import exp, log
from math import pow as power

QT = 2.952882641412121  # 2.3 ** ((34 - 21) / 10), written into the files
CELSIUS = 6.3  # NEURON's default; only the Nernst eca sees it
R_GAS = 8.31446261815324  # J/(mol K)
FARADAY = 96485.33212331001  # C/mol
CAO_MM = 2.0
CAI0_MM = 5e-5


def nat_rates(v: float, vh_m: float, vh_h: float) -> tuple[float, float, float, float]:
    """NaTs2_t (vh_m = -32, vh_h = -60) and NaTa_t (-38, -66)."""
    vl = v
    if vl == vh_m:
        vl = vl + 0.0001
    if vl == vh_h:
        vl = vl + 0.0001
    m_alpha = 0.182 * (vl - vh_m) / (1 - exp(-(vl - vh_m) / 6))
    m_beta = 0.124 * (-vl + vh_m) / (1 - exp((vl - vh_m) / 6))
    h_alpha = -0.015 * (vl - vh_h) / (1 - exp((vl - vh_h) / 6))
    h_beta = -0.015 * (-vl + vh_h) / (1 - exp(-(vl - vh_h) / 6))
    return (
        m_alpha / (m_alpha + m_beta),
        1 / ((m_alpha + m_beta) * QT),
        h_alpha / (h_alpha + h_beta),
        1 / ((h_alpha + h_beta) * QT),
    )


def nap_rates(v: float) -> tuple[float, float, float, float]:
    vl = v
    m_inf = 1 / (1 + exp(-(vl + 52.6) / 4.6))
    if vl == -38:
        vl = vl + 0.0001
    if vl == -17:
        vl = vl + 0.0001
    if vl == -64.4:
        vl = vl + 0.0001
    m_alpha = 0.182 * (vl + 38) / (1 - exp(-(vl + 38) / 6))
    m_beta = 0.124 * (-vl - 38) / (1 - exp((vl + 38) / 6))
    m_tau = 6 / ((m_alpha + m_beta) * QT)
    h_inf = 1 / (1 + exp((vl + 48.8) / 10))
    h_alpha = -2.88e-6 * (vl + 17) / (1 - exp((vl + 17) / 4.63))
    h_beta = 6.94e-6 * (vl + 64.4) / (1 - exp(-(vl + 64.4) / 2.63))
    return m_inf, m_tau, h_inf, 1 / ((h_alpha + h_beta) * QT)


def ktst_rates(v: float) -> tuple[float, float, float, float]:
    u = v + 10
    a = (u + 71) / 59
    b = (u + 73) / 23
    return (
        1 / (1 + exp(-u / 19)),
        (0.34 + 0.92 * exp(-a * a)) / QT,
        1 / (1 + exp((u + 66) / 10)),
        (8 + 49 * exp(-b * b)) / QT,
    )


def kpst_rates(v: float) -> tuple[float, float, float, float]:
    u = v + 10
    m_inf = 1 / (1 + exp(-(u + 1) / 12))
    if u < -50:  # noqa: SIM108 - as in the .mod file
        m_tau = (1.25 + 175.03 * exp(0.026 * u)) / QT
    else:
        m_tau = (1.25 + 13 * exp(-0.026 * u)) / QT
    c = (u + 75) / 48
    h_inf = 1 / (1 + exp((u + 54) / 11))
    h_tau = (360 + (1010 + 24 * (u + 55)) * exp(-c * c)) / QT
    return m_inf, m_tau, h_inf, h_tau


def im_rates(v: float) -> tuple[float, float]:
    m_alpha = 3.3e-3 * exp(2.5 * 0.04 * (v + 35))
    m_beta = 3.3e-3 * exp(-2.5 * 0.04 * (v + 35))
    return m_alpha / (m_alpha + m_beta), 1 / ((m_alpha + m_beta) * QT)


def skv3_rates(v: float) -> tuple[float, float]:
    return 1 / (1 + exp((v - 18.7) / (-9.7))), 0.2 * 20 / (1 + exp((v + 46.56) / (-44.14)))


def sk_zinf(cai: float) -> float:
    c = cai
    if c < 1e-7:
        c = c + 1e-7
    return 1 / (1 + power(0.00043 / c, 4.8))


def cahva_rates(v: float) -> tuple[float, float, float, float]:
    vl = v
    if vl == -27:
        vl = vl + 0.0001
    m_alpha = 0.055 * (-27 - vl) / (exp((-27 - vl) / 3.8) - 1)
    m_beta = 0.94 * exp((-75 - vl) / 17)
    h_alpha = 0.000457 * exp((-13 - vl) / 50)
    h_beta = 0.0065 / (exp((-vl - 15) / 28) + 1)
    return (
        m_alpha / (m_alpha + m_beta),
        1 / (m_alpha + m_beta),
        h_alpha / (h_alpha + h_beta),
        1 / (h_alpha + h_beta),
    )


def calva_rates(v: float) -> tuple[float, float, float, float]:
    u = v + 10
    return (
        1 / (1 + exp(-(u + 30) / 6)),
        (5 + 20 / (1 + exp((u + 25) / 5))) / QT,
        1 / (1 + exp((u + 80) / 6.4)),
        (20 + 50 / (1 + exp((u + 40) / 7))) / QT,
    )


def ih_rates(v: float) -> tuple[float, float]:
    vhalf, vshift = -154.9, 0.0
    vl = v
    if vl == vhalf:
        vl = vl + 0.0001
    m_alpha = 0.001 * 6.43 * (vl - (vhalf + vshift)) / (exp((vl - (vhalf + vshift)) / 11.9) - 1)
    m_beta = 0.001 * 193 * exp((vl - vshift) / 33.1)
    return m_alpha / (m_alpha + m_beta), 1 / (m_alpha + m_beta)


def nernst_eca(cai: float) -> float:
    ktf = 1000.0 * R_GAS * (CELSIUS + 273.15) / FARADAY
    return ktf / 2 * log(CAO_MM / cai)


def cnexp(x: float, inf: float, tau: float, dt: float) -> float:
    """NEURON's cnexp update of dx/dt = (inf - x)/tau, in its operation order."""
    return x + (1.0 - exp(dt * (-1.0 / tau))) * (-(inf / tau) / (-1.0 / tau) - x)


def mg_block(v: float, mg: float, gamma: float) -> float:
    return 1 / (1 + (mg / 3.57) * exp(-gamma * v))


def peak_factor(tau_r: float, tau_d: float) -> float:
    tp = (tau_r * tau_d) / (tau_d - tau_r) * log(tau_d / tau_r)
    return 1 / (-exp(-tp / tau_r) + exp(-tp / tau_d))


KINETICS = (
    nat_rates,
    nap_rates,
    ktst_rates,
    kpst_rates,
    im_rates,
    skv3_rates,
    sk_zinf,
    cahva_rates,
    calva_rates,
    ih_rates,
    nernst_eca,
    cnexp,
    mg_block,
)
