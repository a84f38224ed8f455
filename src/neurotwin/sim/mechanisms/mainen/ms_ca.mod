COMMENT
High-voltage-activated calcium current of the Mainen & Sejnowski (1996) cell model, written for
neurotwin from the published kinetics (Reuveni et al. 1993): g = tadj gbar m^2 h,
  m: alpha = 0.055 (-27 - V) / (exp((-27 - V)/3.8) - 1),  beta = 0.94 exp((-75 - V)/17)
  h: alpha = 0.000457 exp((-13 - V)/50),                beta = 0.0065 / (exp((-V - 15)/28) + 1)
(rates in /ms), tadj = q10^((celsius-temp)/10); eca from the Nernst equation (NEURON).
gbar in pS/um2 (1 pS/um2 = 1e-4 S/cm2).
ENDCOMMENT

NEURON {
    SUFFIX ms_ca
    USEION ca READ eca WRITE ica
    RANGE gbar, g
    GLOBAL temp, q10, vshift
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (pS) = (picosiemens)
    (um) = (micron)
}

PARAMETER {
    gbar = 0.1 (pS/um2)
    vshift = 0 (mV)
    temp = 23 (degC)
    q10 = 2.3
}

ASSIGNED {
    v (mV)
    celsius (degC)
    eca (mV)
    ica (mA/cm2)
    g (pS/um2)
    minf
    hinf
    mtau (ms)
    htau (ms)
    tadj
}

STATE { m h }

INITIAL {
    rates(v + vshift)
    m = minf
    h = hinf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = tadj * gbar * m * m * h
    ica = (1e-4) * g * (v - eca)
}

DERIVATIVE states {
    rates(v + vshift)
    m' = (minf - m) / mtau
    h' = (hinf - h) / htau
}

PROCEDURE rates(vm) {
    LOCAL a, b, x
    tadj = q10^((celsius - temp) / 10)
    x = -27 - vm
    if (fabs(x) > 1e-6) {
        a = 0.055 * x / (exp(x / 3.8) - 1)
    } else {
        a = 0.055 * 3.8
    }
    b = 0.94 * exp((-75 - vm) / 17)
    mtau = 1 / tadj / (a + b)
    minf = a / (a + b)
    a = 0.000457 * exp((-13 - vm) / 50)
    b = 0.0065 / (exp((-vm - 15) / 28) + 1)
    htau = 1 / tadj / (a + b)
    hinf = a / (a + b)
}
