: K_Pst -- persistent K current (Korngreen & Sakmann 2000; Hay et al. 2011 form, shifted -10 mV).
: I = gbar*m^2*h*(v - ek), u = v + 10; mTau branch at u < -50. qt = 2.3^1.3 literal; celsius not read.
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: Readable RANGE variables: gbar (S/cm2), mInf, mTau, hInf, hTau (ms).

NEURON {
    THREADSAFE
    SUFFIX K_Pst
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
    ik = gbar*m*m*h*(v - ek)
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
    mInf = 1/(1 + exp(-(u + 1)/12))
    if (u < -50) {
        mTau = (1.25 + 175.03*exp(0.026*u))/qt
    } else {
        mTau = (1.25 + 13*exp(-0.026*u))/qt
    }
    hInf = 1/(1 + exp((u + 54)/11))
    hTau = (360 + (1010 + 24*(u + 55))*exp(-((u + 75)/48)*((u + 75)/48)))/qt
    UNITSON
}
