: SKv3_1 -- Kv3.1 fast K current (Rettig et al., EMBO J 1992; Hay et al. 2011 form).
: I = gbar*m*(v - ek). No temperature factor; celsius is not read.
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: Readable RANGE variables: gbar (S/cm2), mInf, mTau (ms). No h gate.

NEURON {
    THREADSAFE
    SUFFIX SKv3_1
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
    UNITSOFF
    mInf = 1/(1 + exp((vm - 18.7)/(-9.7)))
    mTau = 0.2*20/(1 + exp((vm + 46.56)/(-44.14)))
    UNITSON
}
