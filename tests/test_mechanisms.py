"""Compile-on-first-use cache of our NMODL mechanisms."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from neurotwin.sim import mechanisms

LOAD_AND_USE = (
    "from neurotwin.sim import mechanisms; mechanisms.load();"
    "from neuron import h; s = h.Section(); s.insert('NaTs2_t'); print(mechanisms.compiled_dir())"
)


def test_hash_covers_every_source():
    names = {p.name for p in mechanisms.sources()}
    assert len([n for n in names if n.endswith(".mod")]) == 14
    assert "eventqueue.inc" in names
    assert len(mechanisms.source_hash()) == 16


@pytest.mark.slow
def test_two_processes_compile_once_into_a_fresh_cache(tmp_path):
    env = {**os.environ, "NEUROTWIN_CACHE": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LOAD_AND_USE],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    dirs = {out.strip().splitlines()[-1] for out, _ in outs}
    assert len(dirs) == 1  # both use the same build
    root = tmp_path / "mechanisms"
    builds = [p for p in root.iterdir() if p.is_dir()]
    assert [p.name for p in builds] == [mechanisms.source_hash()]  # no temporary leftovers
    # a third process finds the cache and does not compile again (fast, same folder)
    out = subprocess.run(
        [sys.executable, "-c", LOAD_AND_USE],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out.strip().splitlines()[-1] in dirs
