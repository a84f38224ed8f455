: Ca_LVAst -- low-voltage-activated Ca current (Avery & Johnston 1996; tau from Randall 1997;
: Hay et al. 2011 form, shifted -10 mV).
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: I = gbar*m^2*h*(v - eca), u = v + 10. qt = 2.3^1.3 is a literal constant; celsius is not read.
: Readable RANGE variables: gbar (S/cm2), mInf, mTau, hInf, hTau (ms).

NEURON {
    THREADSAFE
    SUFFIX Ca_LVAst
    USEION ca READ eca WRITE ica
    RANGE gbar, mInf, mTau, hInf, hTau
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    eca (mV)
    ica (mA/cm2)
    mInf
    mTau (ms)
    hInf
    hTau (ms)
}

STATE {
    m
    h
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ica = gbar*m*m*h*(v - eca)
}

DERIVATIVE states {
    rates(v)
    m' = (mInf - m)/mTau
    h' = (hInf - h)/hTau
}

INITIAL {
    rates(v)
    m = mInf
    h = hInf
}

PROCEDURE rates(vm (mV)) {
    LOCAL qt, u
    qt = 2.952882641412121
    UNITSOFF
    u = vm + 10
    mInf = 1/(1 + exp(-(u + 30)/6))
    mTau = (5 + 20/(1 + exp((u + 25)/5)))/qt
    hInf = 1/(1 + exp((u + 80)/6.4))
    hTau = (20 + 50/(1 + exp((u + 40)/7)))/qt
    UNITSON
}
