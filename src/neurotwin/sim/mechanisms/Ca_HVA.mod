: Ca_HVA -- high-voltage-activated Ca current (Reuveni et al. 1993; Hay et al. 2011 form).
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: I = gbar*m^2*h*(v - eca). No temperature factor; celsius is not read.
: Readable RANGE variables: gbar (S/cm2), mInf, mTau, hInf, hTau (ms).
: Singularity guard: exact equality v == -27 on a local copy, add 1e-4 mV.

NEURON {
    THREADSAFE
    SUFFIX Ca_HVA
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
    LOCAL vl, mAlpha, mBeta, hAlpha, hBeta
    UNITSOFF
    vl = vm
    if (vl == -27) {
        vl = vl + 0.0001
    }
    mAlpha = 0.055*(-27 - vl)/(exp((-27 - vl)/3.8) - 1)
    mBeta = 0.94*exp((-75 - vl)/17)
    mInf = mAlpha/(mAlpha + mBeta)
    mTau = 1/(mAlpha + mBeta)
    hAlpha = 0.000457*exp((-13 - vl)/50)
    hBeta = 0.0065/(exp((-vl - 15)/28) + 1)
    hInf = hAlpha/(hAlpha + hBeta)
    hTau = 1/(hAlpha + hBeta)
    UNITSON
}
