"""Simulation layer: the only package that imports ``neuron``."""

import os

# NEURON warns about a missing X display on every import unless told there is no GUI.
os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
