COMMENT
Fast sodium current of the Mainen & Sejnowski (1996) cell model, written for neurotwin from the
published kinetics (Hodgkin-Huxley m^3 h; rates of Mainen et al. 1995, Neuron 15:1427).
Rates use V + vshift; every rate and the conductance are scaled by tadj = q10^((celsius-temp)/10).
  m: alpha = Ra (V - tha) / (1 - exp(-(V - tha)/qa)),  beta = Rb (tha - V) / (1 - exp((V - tha)/qa))
  h: alpha = Rd (V - thi1) / (1 - exp(-(V - thi1)/qi)), beta = Rg (thi2 - V) / (1 - exp((V - thi2)/qi))
     h_inf = 1 / (1 + exp((V - thinf)/qinf))
gbar in pS/um2 (1 pS/um2 = 1e-4 S/cm2).
ENDCOMMENT

NEURON {
    SUFFIX ms_na
    USEION na READ ena WRITE ina
    RANGE gbar, g
    GLOBAL vshift, tha, qa, Ra, Rb, thi1, thi2, qi, thinf, qinf, Rg, Rd, temp, q10
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (pS) = (picosiemens)
    (um) = (micron)
}

PARAMETER {
    gbar = 1000 (pS/um2)
    vshift = -5 (mV)
    tha = -35 (mV)
    qa = 9 (mV)
    Ra = 0.182 (/ms)
    Rb = 0.124 (/ms)
    thi1 = -50 (mV)
    thi2 = -75 (mV)
    qi = 5 (mV)
    thinf = -65 (mV)
    qinf = 6.2 (mV)
    Rg = 0.0091 (/ms)
    Rd = 0.024 (/ms)
    temp = 23 (degC)
    q10 = 2.3
}

ASSIGNED {
    v (mV)
    celsius (degC)
    ena (mV)
    ina (mA/cm2)
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
    g = tadj * gbar * m * m * m * h
    ina = (1e-4) * g * (v - ena)
}

DERIVATIVE states {
    rates(v + vshift)
    m' = (minf - m) / mtau
    h' = (hinf - h) / htau
}

PROCEDURE rates(vm) {
    LOCAL a, b
    tadj = q10^((celsius - temp) / 10)
    a = lin_exp(vm, tha, Ra, qa)
    b = lin_exp(-vm, -tha, Rb, qa)
    mtau = 1 / tadj / (a + b)
    minf = a / (a + b)
    a = lin_exp(vm, thi1, Rd, qi)
    b = lin_exp(-vm, -thi2, Rg, qi)
    htau = 1 / tadj / (a + b)
    hinf = 1 / (1 + exp((vm - thinf) / qinf))
}

: rate * (x - th) / (1 - exp(-(x - th)/q)), continuous at x = th (limit rate * q)
FUNCTION lin_exp(x, th, rate, q) {
    if (fabs(x - th) > 1e-6) {
        lin_exp = rate * (x - th) / (1 - exp(-(x - th) / q))
    } else {
        lin_exp = rate * q
    }
}
