: NaTs2_t -- somatic transient Na current (Colbert & Pan 2002; Hay et al. 2011 form, NaTa_t shifted +6 mV).
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: I = gbar*m^3*h*(v - ena). qt = 2.3^1.3 is a literal constant; celsius is not read.
: Readable RANGE variables: gbar (S/cm2), mInf, mTau, hInf, hTau (ms).
: Singularity guards: exact equality v == -32, then v == -60 (on a local copy), add 1e-4 mV.

NEURON {
    THREADSAFE
    SUFFIX NaTs2_t
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
    if (vl == -32) {
        vl = vl + 0.0001
    }
    if (vl == -60) {
        vl = vl + 0.0001
    }
    mAlpha = 0.182*(vl + 32)/(1 - exp(-(vl + 32)/6))
    mBeta = 0.124*(-vl - 32)/(1 - exp((vl + 32)/6))
    mInf = mAlpha/(mAlpha + mBeta)
    mTau = 1/((mAlpha + mBeta)*qt)
    hAlpha = -0.015*(vl + 60)/(1 - exp((vl + 60)/6))
    hBeta = -0.015*(-vl - 60)/(1 - exp(-(vl + 60)/6))
    hInf = hAlpha/(hAlpha + hBeta)
    hTau = 1/((hAlpha + hBeta)*qt)
    UNITSON
}
