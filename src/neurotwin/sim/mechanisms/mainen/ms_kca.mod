COMMENT
Calcium-activated potassium current of the Mainen & Sejnowski (1996) cell model, written for
neurotwin from the published kinetics: one gate n, g = tadj gbar n,
  alpha = Ra [Ca]i^caix with [Ca]i in mM (times ca_per_mM),  beta = Rb,  tadj = q10^((celsius-temp)/10).
gbar in pS/um2 (1 pS/um2 = 1e-4 S/cm2).
ENDCOMMENT

NEURON {
    SUFFIX ms_kca
    USEION k READ ek WRITE ik
    USEION ca READ cai
    RANGE gbar, g
    GLOBAL Ra, Rb, caix, temp, q10, ca_per_mM
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (mM) = (milli/liter)
    (pS) = (picosiemens)
    (um) = (micron)
}

PARAMETER {
    gbar = 10 (pS/um2)
    caix = 1
    ca_per_mM = 1 : [Ca]i enters the rate in mM, as published (1000: in uM)
    Ra = 0.01 (/ms)
    Rb = 0.02 (/ms)
    temp = 23 (degC)
    q10 = 2.3
}

ASSIGNED {
    v (mV)
    celsius (degC)
    cai (mM)
    ek (mV)
    ik (mA/cm2)
    g (pS/um2)
    ninf
    ntau (ms)
    tadj
}

STATE { n }

INITIAL {
    rates(cai)
    n = ninf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = tadj * gbar * n
    ik = (1e-4) * g * (v - ek)
}

DERIVATIVE states {
    rates(cai)
    n' = (ninf - n) / ntau
}

PROCEDURE rates(c (mM)) {
    LOCAL a, b
    tadj = q10^((celsius - temp) / 10)
    a = Ra * (ca_per_mM * c)^caix
    b = Rb
    ntau = 1 / tadj / (a + b)
    ninf = a / (a + b)
}
