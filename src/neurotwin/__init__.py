"""neurotwin: simulate neurons on NEURON, build datasets, train deep-network twins of them."""

from importlib.metadata import PackageNotFoundError, version

from neurotwin import cells
from neurotwin.sim.outputs import SimulationResult
from neurotwin.sim.run import simulate

try:
    __version__ = version("neurotwin")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["SimulationResult", "__version__", "cells", "simulate"]
