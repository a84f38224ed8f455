: CaDynamics_E2 -- simple intracellular Ca pool (after Destexhe et al. 1994; Hay et al. 2011 form).
: Written for neurotwin from the spec (ball_and_stick.md section 3).
: cai' = -10000*ica*gamma/(2*FARADAY*depth) - (cai - minCai)/decay   (mM/ms; ica in mA/cm2, depth in um)
: Readable RANGE: gamma (default 0.05), decay (ms, 80), depth (um, 0.1), minCai (mM, 1e-4). State cai.
: Deliberately no INITIAL block: cai starts at the ion default cai0_ca_ion (5e-5 mM), not at minCai.

NEURON {
    THREADSAFE
    SUFFIX CaDynamics_E2
    USEION ca READ ica WRITE cai
    RANGE gamma, decay, depth, minCai
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    FARADAY = (faraday) (coulombs)
    (molar) = (1/liter)
    (mM) = (millimolar)
    (um) = (micron)
}

PARAMETER {
    gamma = 0.05
    decay = 80 (ms)
    depth = 0.1 (um)
    minCai = 1e-4 (mM)
}

ASSIGNED {
    ica (mA/cm2)
}

STATE {
    cai (mM)
}

BREAKPOINT {
    SOLVE states METHOD cnexp
}

DERIVATIVE states {
    UNITSOFF
    cai' = -(10000)*(ica*gamma/(2*FARADAY*depth)) - (cai - minCai)/decay
    UNITSON
}
