: Ih -- hyperpolarization-activated cation current (Kole et al. 2006; Hay et al. 2011 form + vshift).
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: ihcn = gbar*m*(v - ehcn). No temperature factor; celsius is not read.
: Readable: RANGE gbar (S/cm2), vshift (mV, default 0), mInf, mTau (ms);
:           GLOBAL ehcn (mV, default -45), vhalf (mV, default -154.9).
: Singularity guard: exact equality v == vhalf (not vhalf + vshift, as in the spec) on a local copy,
: add 1e-4 mV.

NEURON {
    THREADSAFE
    SUFFIX Ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gbar, vshift, mInf, mTau
    GLOBAL ehcn, vhalf
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gbar = 0.00001 (S/cm2)
    ehcn = -45 (mV)
    vhalf = -154.9 (mV)
    vshift = 0 (mV)
}

ASSIGNED {
    v (mV)
    ihcn (mA/cm2)
    mInf
    mTau (ms)
}

STATE {
    m
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ihcn = gbar*m*(v - ehcn)
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
    LOCAL vl, mAlpha, mBeta
    UNITSOFF
    vl = vm
    if (vl == vhalf) {
        vl = vl + 0.0001
    }
    mAlpha = 0.001*6.43*(vl - (vhalf + vshift))/(exp((vl - (vhalf + vshift))/11.9) - 1)
    mBeta = 0.001*193*exp((vl - vshift)/33.1)
    mInf = mAlpha/(mAlpha + mBeta)
    mTau = 1/(mAlpha + mBeta)
    UNITSON
}
