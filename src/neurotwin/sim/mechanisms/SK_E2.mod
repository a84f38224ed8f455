: SK_E2 -- small-conductance Ca-activated K current (Koehler et al. 1996; Hay et al. 2011 form).
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: I = gbar*z*(v - ek); voltage independent, no temperature factor.
: zInf = 1/(1 + (0.00043/c)^4.8) with c = cai (local copy, c + 1e-7 if c < 1e-7).
: Readable: RANGE gbar (S/cm2), zInf; GLOBAL zTau (ms, default 1). State z (bounded 0..1).

NEURON {
    THREADSAFE
    SUFFIX SK_E2
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gbar, zInf
    GLOBAL zTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
    (molar) = (1/liter)
    (mM) = (millimolar)
}

PARAMETER {
    gbar = 0.000001 (S/cm2)
    zTau = 1 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    cai (mM)
    ik (mA/cm2)
    zInf
}

STATE {
    z FROM 0 TO 1
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gbar*z*(v - ek)
}

DERIVATIVE states {
    rates(cai)
    z' = (zInf - z)/zTau
}

INITIAL {
    rates(cai)
    z = zInf
}

PROCEDURE rates(ca (mM)) {
    LOCAL c
    UNITSOFF
    c = ca
    if (c < 1e-7) {
        c = c + 1e-7
    }
    zInf = 1/(1 + (0.00043/c)^4.8)
    UNITSON
}
