COMMENT
Slow voltage-dependent (muscarinic) potassium current (dendrite) of the Mainen & Sejnowski (1996) cell model, written for neurotwin from the published
kinetics: one activation gate n, g = tadj gbar n, tadj = q10^((celsius-temp)/10),
  alpha = Ra (V - tha) / (1 - exp(-(V - tha)/qa)),  beta = Rb (tha - V) / (1 - exp((V - tha)/qa)).
gbar in pS/um2 (1 pS/um2 = 1e-4 S/cm2).
ENDCOMMENT

NEURON {
    SUFFIX ms_km
    USEION k READ ek WRITE ik
    RANGE gbar, g
    GLOBAL tha, qa, Ra, Rb, temp, q10
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (pS) = (picosiemens)
    (um) = (micron)
}

PARAMETER {
    gbar = 0.1 (pS/um2)
    tha = -30 (mV)
    qa = 9 (mV)
    Ra = 0.001 (/ms)
    Rb = 0.001 (/ms)
    temp = 23 (degC)
    q10 = 2.3
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ek (mV)
    ik (mA/cm2)
    g (pS/um2)
    ninf
    ntau (ms)
    tadj
}

STATE { n }

INITIAL {
    rates(v)
    n = ninf
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    g = tadj * gbar * n
    ik = (1e-4) * g * (v - ek)
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n) / ntau
}

PROCEDURE rates(vm) {
    LOCAL a, b
    tadj = q10^((celsius - temp) / 10)
    a = lin_exp(vm, tha, Ra, qa)
    b = lin_exp(-vm, -tha, Rb, qa)
    ntau = 1 / tadj / (a + b)
    ninf = a / (a + b)
}

: rate * (x - th) / (1 - exp(-(x - th)/q)), continuous at x = th (limit rate * q)
FUNCTION lin_exp(x, th, rate, q) {
    if (fabs(x - th) > 1e-6) {
        lin_exp = rate * (x - th) / (1 - exp(-(x - th) / q))
    } else {
        lin_exp = rate * q
    }
}
