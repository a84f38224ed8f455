"""Our NMODL mechanisms, compiled on first use into a per-user cache keyed by their hash.

The cache lives in ``$NEUROTWIN_CACHE`` or ``$XDG_CACHE_HOME/neurotwin`` (default
``~/.cache/neurotwin``), under ``mechanisms/<hash>``, where the hash covers every ``.mod`` and
``.inc`` source and the NEURON version. Compilation happens in a private temporary folder under
an exclusive file lock and is published with an atomic rename, so two processes that start at once
compile once and never see a half-built library. Nothing is written into site-packages.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE_DIR = Path(__file__).resolve().parent
_loaded: Path | None = None


def cache_root() -> Path:
    from neurotwin.sim import _cache_dir

    return Path(_cache_dir())


def sources(source_dir: Path = SOURCE_DIR) -> list[Path]:
    return sorted(p for p in source_dir.iterdir() if p.suffix in (".mod", ".inc"))


def source_hash(source_dir: Path = SOURCE_DIR) -> str:
    import neuron

    h = hashlib.sha256(f"neuron={neuron.__version__}".encode())
    for p in sources(source_dir):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _nrnivmodl() -> str:
    candidate = Path(sys.executable).parent / "nrnivmodl"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nrnivmodl")
    if found is None:
        raise RuntimeError("nrnivmodl not found: install NEURON with `pip install neuron`")
    return found


def _library(build_dir: Path) -> Path | None:
    libs = sorted(build_dir.glob("*/.libs/libnrnmech.so")) + sorted(
        build_dir.glob("*/libnrnmech.so")
    )
    return libs[0] if libs else None


def compiled_dir(source_dir: Path = SOURCE_DIR) -> Path:
    """The folder holding the compiled mechanisms for the current sources (compiles if needed).
    ``source_dir``: this folder (the default set) or one of its sub-folders (an extra set)."""
    root = cache_root() / "mechanisms"
    root.mkdir(parents=True, exist_ok=True)
    digest = source_hash(source_dir)
    target = root / digest
    if _library(target) is not None:
        return target
    with open(root / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _library(target) is not None:  # another process finished while we waited
            return target
        work = Path(tempfile.mkdtemp(prefix=f"{digest}.", dir=root))
        try:
            for p in sources(source_dir):
                shutil.copy2(p, work / p.name)
            log.info("compiling NEURON mechanisms into %s", target)
            proc = subprocess.run(
                [_nrnivmodl(), "."], cwd=work, capture_output=True, text=True, check=False
            )
            if proc.returncode != 0 or _library(work) is None:
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
                raise RuntimeError(f"nrnivmodl failed in {work}:\n{tail}")
            if target.exists():  # a broken leftover (no library in it)
                shutil.rmtree(target)
            os.replace(work, target)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return target


def load() -> None:
    """Compile (first time only) and load our mechanisms into this process's NEURON."""
    global _loaded
    if _loaded is not None:
        return
    from neuron import h

    if hasattr(h, "Synapse_AMPA_NMDA"):  # loaded by someone else in this process
        _loaded = Path("<preloaded>")
        return
    lib = _library(compiled_dir())
    assert lib is not None
    if not h.nrn_load_dll(str(lib)):
        raise RuntimeError(f"NEURON could not load {lib}")
    _loaded = lib


EXTRA_SETS: dict[str, str] = {"mainen": "ms_na"}
"""Sub-folders holding extra mechanism sets (compiled into their own library), each with one
mechanism name that shows whether the set is loaded."""
_loaded_extra: dict[str, Path] = {}


def load_extra(name: str) -> None:
    """Compile (first time only) and load the extra set ``name`` (a sub-folder, e.g. the Mainen
    & Sejnowski channels) into this process's NEURON."""
    if name in _loaded_extra:
        return
    if name not in EXTRA_SETS:
        raise ValueError(f"unknown mechanism set {name!r}; valid: {', '.join(EXTRA_SETS)}")
    from neuron import h

    try:
        h.Section(name="_probe").insert(EXTRA_SETS[name])
        _loaded_extra[name] = Path("<preloaded>")
        return
    except ValueError:
        pass
    lib = _library(compiled_dir(SOURCE_DIR / name))
    assert lib is not None
    if not h.nrn_load_dll(str(lib)):
        raise RuntimeError(f"NEURON could not load {lib}")
    _loaded_extra[name] = lib
