: K_Tst -- transient K current (Korngreen & Sakmann 2000; Hay et al. 2011 form, shifted -10 mV).
: I = gbar*m^4*h*(v - ek), u = v + 10. qt = 2.3^1.3 is a literal constant; celsius is not read.
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: Readable RANGE variables: gbar (S/cm2), mInf, mTau, hInf, hTau (ms).

NEURON {
    THREADSAFE
    SUFFIX K_Tst
    USEION k READ ek WRITE ik
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
    ek (mV)
    ik (mA/cm2)
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
    ik = gbar*m*m*m*m*h*(v - ek)
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
    mInf = 1/(1 + exp(-u/19))
    mTau = (0.34 + 0.92*exp(-((u + 71)/59)*((u + 71)/59)))/qt
    hInf = 1/(1 + exp((u + 66)/10))
    hTau = (8 + 49*exp(-((u + 73)/23)*((u + 73)/23)))/qt
    UNITSON
}
