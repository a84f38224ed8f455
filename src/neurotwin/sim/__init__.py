"""Simulation layer: the only package that imports ``neuron``."""

import os

# NEURON warns about a missing X display on every import unless told there is no GUI.
os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")


def _cache_dir() -> str:
    env = os.environ.get("NEUROTWIN_CACHE")
    if env:
        return os.path.expanduser(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "neurotwin")


# numba caches compiled kernels next to their source unless told otherwise: keep them (like the
# NEURON mechanisms) in the user cache, never in site-packages.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(_cache_dir(), "numba"))
