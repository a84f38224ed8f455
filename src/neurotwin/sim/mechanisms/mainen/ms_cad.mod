COMMENT
Submembrane calcium of the Mainen & Sejnowski (1996) cell model, written for neurotwin: a shell of
depth `depth` filled by the inward calcium current and relaxing to cainf with time constant taur,
  d[Ca]/dt = max(0, -ica / (2 F depth)) + (cainf - [Ca]) / taur.
ENDCOMMENT

NEURON {
    SUFFIX ms_cad
    USEION ca READ ica WRITE cai
    RANGE ca
    GLOBAL depth, cainf, taur
}

UNITS {
    (mA) = (milliamp)
    (mM) = (milli/liter)
    (um) = (micron)
}

PARAMETER {
    depth = 0.1 (um)
    taur = 200 (ms)
    cainf = 100e-6 (mM)
}

ASSIGNED {
    ica (mA/cm2)
    cai (mM)
    drive (mM/ms)
}

STATE { ca (mM) }

INITIAL {
    ca = cainf
    cai = ca
}

BREAKPOINT {
    SOLVE state METHOD cnexp
}

DERIVATIVE state {
    : 1e4 converts mA/cm2 / (C/mol * um) to mM/ms; F = 96485.309 C/mol
    drive = -(1e4) * ica / (2 * 96485.309 * depth)
    if (drive <= 0) { drive = 0 }
    ca' = drive + (cainf - ca) / taur
    cai = ca
}
