: GABA_A double-exponential synapse. Written for neurotwin from the ball-and-stick
: specification (section 4). The file defaults (0.5/8 ms, -70 mV, 0.4 nS) are not the values the cell
: uses (0.2/8 ms, -85 mV, 1 nS); the cell sets them. Events come from NetCons (flag 0) or from
: the per-synapse queue of eventqueue.inc (flag 1).

NEURON {
    THREADSAFE
    POINT_PROCESS Synapse_GABA_A
    RANGE tau_r, tau_d, e, gmax, weight, g, factor
    NONSPECIFIC_CURRENT i
    BBCOREPOINTER queue_
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    tau_r = 0.5 (ms)
    tau_d = 8.0 (ms)
    e = -70 (mV)
    gmax = 0.0004 (uS)
    weight = 1
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    factor
}

INCLUDE "eventqueue.inc"

STATE {
    A
    B
}

INITIAL {
    LOCAL tp
    A = 0
    B = 0
    tp = (tau_r * tau_d) / (tau_d - tau_r) * log(tau_d / tau_r)
    factor = 1 / (-exp(-tp / tau_r) + exp(-tp / tau_d))
    qindex = 0
    queue_load()
    if (qindex >= 0) {
        net_send(qtime - t, 1)
    }
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gmax * weight * (B - A)
    i = g * (v - e)
}

DERIVATIVE states {
    A' = -A / tau_r
    B' = -B / tau_d
}

NET_RECEIVE(w) {
    if (flag == 0) {
        A = A + weight * w * factor
        B = B + weight * w * factor
    } else {
        A = A + weight * qweight * factor
        B = B + weight * qweight * factor
        qindex = qindex + 1
        queue_load()
        if (qindex >= 0) {
            net_send(qtime - t, 1)
        }
    }
}
