: Nap_Et2 -- persistent Na current (Magistretti & Alonso 1999; Hay et al. 2011 form).
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: I = gbar*m^3*h*(v - ena). qt = 2.3^1.3 is a literal constant; celsius is not read.
: Readable RANGE variables: gbar (S/cm2), mInf, mTau, hInf, hTau (ms).
: mInf is evaluated on the unshifted v; then the guards v == -38, v == -17, v == -64.4 are applied
: in sequence to a local copy (exact equality, add 1e-4 mV), and everything else uses that copy.

NEURON {
    THREADSAFE
    SUFFIX Nap_Et2
    USEION na READ ena WRITE ina
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
    ena (mV)
    ina (mA/cm2)
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
    ina = gbar*m*m*m*h*(v - ena)
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
    LOCAL qt, vl, mAlpha, mBeta, hAlpha, hBeta
    qt = 2.952882641412121
    UNITSOFF
    vl = vm
    mInf = 1/(1 + exp(-(vl + 52.6)/4.6))
    if (vl == -38) {
        vl = vl + 0.0001
    }
    if (vl == -17) {
        vl = vl + 0.0001
    }
    if (vl == -64.4) {
        vl = vl + 0.0001
    }
    mAlpha = 0.182*(vl + 38)/(1 - exp(-(vl + 38)/6))
    mBeta = 0.124*(-vl - 38)/(1 - exp((vl + 38)/6))
    mTau = 6/((mAlpha + mBeta)*qt)
    hInf = 1/(1 + exp((vl + 48.8)/10))
    hAlpha = -2.88e-6*(vl + 17)/(1 - exp((vl + 17)/4.63))
    hBeta = 6.94e-6*(vl + 64.4)/(1 - exp(-(vl + 64.4)/2.63))
    hTau = 1/((hAlpha + hBeta)*qt)
    UNITSON
}
