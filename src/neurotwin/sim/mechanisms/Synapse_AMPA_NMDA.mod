: AMPA + NMDA double-exponential synapse with a Jahr & Stevens (1990) Mg block.
: Written for neurotwin from the ball-and-stick specification (section 4). An event of weight w adds
: weight*w*factor to every A and B state; g = gmax*weight*(B - A), so an isolated event peaks at
: w*gmax (NMDA: before the Mg block). Events come from NetCons (flag 0) or from the
: per-synapse queue of eventqueue.inc (flag 1).

NEURON {
    THREADSAFE
    POINT_PROCESS Synapse_AMPA_NMDA
    RANGE tau_r_AMPA, tau_d_AMPA, tau_r_NMDA, tau_d_NMDA
    RANGE e_AMPA, e_NMDA, gmax_AMPA, gmax_NMDA, gamma_NMDA, mg, weight
    RANGE g_AMPA, g_NMDA, i_AMPA, i_NMDA, factor_AMPA, factor_NMDA, mgblock
    NONSPECIFIC_CURRENT i
    BBCOREPOINTER queue_
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
    (mM) = (milli/liter)
}

PARAMETER {
    tau_r_AMPA = 0.3 (ms)
    tau_d_AMPA = 3.0 (ms)
    tau_r_NMDA = 2.0 (ms)
    tau_d_NMDA = 70.0 (ms)
    e_AMPA = 0 (mV)
    e_NMDA = 0 (mV)
    gmax_AMPA = 0.0004 (uS)
    gmax_NMDA = 0.0004 (uS)
    gamma_NMDA = 0.062 (/mV)
    mg = 1 (mM)
    weight = 1
}

ASSIGNED {
    v (mV)
    i (nA)
    i_AMPA (nA)
    i_NMDA (nA)
    g_AMPA (uS)
    g_NMDA (uS)
    mgblock
    factor_AMPA
    factor_NMDA
}

INCLUDE "eventqueue.inc"

STATE {
    A_AMPA
    B_AMPA
    A_NMDA
    B_NMDA
}

INITIAL {
    A_AMPA = 0
    B_AMPA = 0
    A_NMDA = 0
    B_NMDA = 0
    factor_AMPA = peak_factor(tau_r_AMPA, tau_d_AMPA)
    factor_NMDA = peak_factor(tau_r_NMDA, tau_d_NMDA)
    mgblock = mg_block(v)
    qindex = 0
    queue_load()
    if (qindex >= 0) {
        net_send(qtime - t, 1)
    }
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    mgblock = mg_block(v)
    g_AMPA = gmax_AMPA * weight * (B_AMPA - A_AMPA)
    g_NMDA = gmax_NMDA * weight * (B_NMDA - A_NMDA) * mgblock
    i_AMPA = g_AMPA * (v - e_AMPA)
    i_NMDA = g_NMDA * (v - e_NMDA)
    i = i_AMPA + i_NMDA
}

DERIVATIVE states {
    A_AMPA' = -A_AMPA / tau_r_AMPA
    B_AMPA' = -B_AMPA / tau_d_AMPA
    A_NMDA' = -A_NMDA / tau_r_NMDA
    B_NMDA' = -B_NMDA / tau_d_NMDA
}

FUNCTION peak_factor(tau_r (ms), tau_d (ms)) {
    LOCAL tp
    tp = (tau_r * tau_d) / (tau_d - tau_r) * log(tau_d / tau_r)
    peak_factor = 1 / (-exp(-tp / tau_r) + exp(-tp / tau_d))
}

FUNCTION mg_block(vm (mV)) {
    mg_block = 1 / (1 + (mg / 3.57) * exp(-gamma_NMDA * vm))
}

PROCEDURE deliver(w) {
    A_AMPA = A_AMPA + weight * w * factor_AMPA
    B_AMPA = B_AMPA + weight * w * factor_AMPA
    A_NMDA = A_NMDA + weight * w * factor_NMDA
    B_NMDA = B_NMDA + weight * w * factor_NMDA
}

NET_RECEIVE(w) {
    if (flag == 0) {
        deliver(w)
    } else {
        deliver(qweight)
        qindex = qindex + 1
        queue_load()
        if (qindex >= 0) {
            net_send(qtime - t, 1)
        }
    }
}
