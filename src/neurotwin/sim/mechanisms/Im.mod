: Im -- muscarinic K current (Adams 1982; Hay et al. 2011 form).
: I = gbar*m*(v - ek). qt = 2.3^1.3 is a literal constant; celsius is not read.
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: Readable RANGE variables: gbar (S/cm2), mInf, mTau (ms). No h gate.

NEURON {
    THREADSAFE
    SUFFIX Im
    USEION k READ ek WRITE ik
    RANGE gbar, mInf, mTau
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
    ek (mV)
    ik (mA/cm2)
    mInf
    mTau (ms)
}

STATE {
    m
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gbar*m*(v - ek)
}

DERIVATIVE states {
    rates(v)
    m' = (mInf - m)/mTau
}

INITIAL {
    rates(v)
    m = mInf
}

PROCEDURE rates(vm (mV)) {
    LOCAL qt, mAlpha, mBeta
    qt = 2.952882641412121
    UNITSOFF
    mAlpha = 3.3e-3*exp(2.5*0.04*(vm + 35))
    mBeta = 3.3e-3*exp(-2.5*0.04*(vm + 35))
    mInf = mAlpha/(mAlpha + mBeta)
    mTau = 1/((mAlpha + mBeta)*qt)
    UNITSON
}
