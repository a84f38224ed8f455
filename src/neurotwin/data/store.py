"""The dataset store: one Zarr v3 group per split, one chunk per simulation.

Layout of ``PATH`` (a folder)::

    zarr.json                  attrs["neurotwin"]: format, resolved config, versions, seeds
    <split>/zarr.json          attrs: requested count, dropped counts by reason, checksum
    <split>/inputs             (N, *input_shape, T) float16  weighted events per 1 ms bin
    <split>/spikes             (N, T) bool
    <split>/soma               (N, T) float32  capped at soma_cap_mV
    <split>/soma_uncapped      (N, T) float32
    <split>/near_spike         (N, T) bool
    <split>/inst_rate          (N, T) float32  spikes/ms
    <split>/dend               (N, S, T) float16  capped at dend_cap_mV (cells with dendrites)
    <split>/done               (N,) bool       slot i holds an accepted simulation
    <split>/attempt            (N,) int32      which draw of slot i was accepted
    <split>/rate_hz            (N,) float32    its firing rate
    <split>/checksum           (N,) uint64     blake2b-64 of slot i's arrays

Zarr writes every chunk to a temporary name and renames it, and ``done`` is set only after a
slot's arrays are written, so an interrupted run leaves a consistent store that a rerun resumes.
Inputs are > 90% zeros: unshuffled Blosc/zstd stores them in about 10% of their raw size.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from neurotwin.data.config import SPLITS, DatasetConfig

FORMAT = "neurotwin-dataset"
FORMAT_VERSION = 1
TARGETS = ("spikes", "soma", "soma_uncapped", "near_spike", "inst_rate", "dend")
# Sparse float16 inputs compress best unshuffled (to ~10 % of their size); dense traces shuffled.
_SPARSE = BloscCodec(cname="zstd", clevel=5, shuffle="noshuffle")
_DENSE = BloscCodec(cname="zstd", clevel=5, shuffle="shuffle")


class StoreError(ValueError):
    """A missing, corrupt or mismatched dataset store."""


def sample_checksum(arrays: dict[str, np.ndarray]) -> int:
    """blake2b-64 of one slot's arrays, in a fixed key order."""
    h = hashlib.blake2b(digest_size=8)
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode())
        h.update(str(a.dtype).encode())
        h.update(a.tobytes())
    return int.from_bytes(h.digest(), "little")


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {}
    for pkg in ("neurotwin", "neuron", "numpy", "zarr"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # noqa: BLE001 - a missing package is just not recorded
            out[pkg] = "unknown"
    return out


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')}: stored {a!r}, requested {b!r}"]


@dataclass
class SplitArrays:
    """The zarr arrays of one split."""

    group: zarr.Group

    def __getitem__(self, name: str) -> zarr.Array:
        return self.group[name]  # type: ignore[return-value]

    @property
    def size(self) -> int:
        return int(self.group["done"].shape[0])

    def done_mask(self) -> np.ndarray:
        return np.asarray(self.group["done"][:], dtype=bool)

    @property
    def num_done(self) -> int:
        return int(self.done_mask().sum())

    def has(self, name: str) -> bool:
        return name in self.group


class DatasetStore:
    """A dataset on disk: :meth:`create_or_open` makes one, :func:`open_dataset` reads one."""

    def __init__(self, path: Path, root: zarr.Group) -> None:
        self.path = path
        self.root = root
        meta = root.attrs.get("neurotwin")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise StoreError(f"{path} is not a neurotwin dataset (no neurotwin metadata)")
        self.meta: dict[str, Any] = meta
        try:
            self.config = DatasetConfig.from_dict(meta["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{path}: corrupt dataset metadata ({exc})") from exc

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> DatasetStore:
        path = Path(path)
        if not path.exists():
            raise StoreError(f"no dataset at {path}")
        if not (path / "zarr.json").is_file():
            raise StoreError(f"{path} is not a neurotwin dataset (no zarr.json)")
        try:
            root = zarr.open_group(str(path), mode=mode)
        except Exception as exc:  # noqa: BLE001 - zarr raises many kinds for a corrupt store
            raise StoreError(f"{path} is not a readable dataset store ({exc})") from exc
        return cls(path, root)

    @classmethod
    def create_or_open(cls, path: str | Path, config: DatasetConfig) -> DatasetStore:
        """Open the store at ``path`` for writing, creating it if absent. A store made with a
        different config is refused with the list of differences."""
        path = Path(path)
        if path.exists():
            store = cls.open(path, mode="r+")
            diffs = _diff(
                {k: v for k, v in store.config.to_dict().items() if k != "counts"},
                {k: v for k, v in config.to_dict().items() if k != "counts"},
            )
            if diffs:
                raise StoreError(
                    f"{path} was made with another config ({'; '.join(diffs[:4])}); "
                    "use another output folder or the same options"
                )
            store._grow(config)
            return store
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            root = zarr.open_group(str(tmp), mode="w")
            root.attrs["neurotwin"] = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "config": config.to_dict(),
                "config_hash": config.content_hash(),
                "versions": _versions(),
                "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                "seeding": "slot i of split s, draw a: SeedSequence(seed, spawn_key=(s, 1, i, a)); "
                "chunk c: SeedSequence(seed, spawn_key=(s, 0, c))",
            }
            store = cls(tmp, root)
            for split in SPLITS:
                store._create_split(split, config.counts.get(split, 0))
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls.open(path, mode="r+")

    # -- layout --------------------------------------------------------------------------
    def _array_specs(self) -> dict[str, tuple[tuple[int, ...], str]]:
        cfg = self.config
        cell, t = cfg.cell, cfg.duration_ms
        specs: dict[str, tuple[tuple[int, ...], str]] = {
            "inputs": ((*cell.input_shape, t), "float16"),
            "spikes": ((t,), "bool"),
            "soma": ((t,), "float32"),
            "soma_uncapped": ((t,), "float32"),
            "near_spike": ((t,), "bool"),
            "inst_rate": ((t,), "float32"),
        }
        if cell.num_dend > 0:
            specs["dend"] = ((cell.num_dend, t), "float16")
        return specs

    def _create_split(self, split: str, n: int) -> None:
        g = self.root.create_group(split)
        g.attrs.update({"requested": n, "dropped": {}, "checksum": None})
        for name, (shape, dtype) in self._array_specs().items():
            g.create_array(
                name,
                shape=(n, *shape),
                chunks=(1, *shape),
                dtype=dtype,
                compressors=[_SPARSE if name == "inputs" else _DENSE],
                fill_value=0,
            )
        for name, dtype in (
            ("done", "bool"),
            ("attempt", "int32"),
            ("rate_hz", "float32"),
            ("checksum", "uint64"),
        ):
            g.create_array(name, shape=(n,), chunks=(max(n, 1),), dtype=dtype, fill_value=0)

    def _grow(self, config: DatasetConfig) -> None:
        sizes = {split: self.split(split).size for split in SPLITS}
        for split in SPLITS:  # refuse before touching anything
            want = config.counts.get(split, 0)
            if want < sizes[split]:
                raise StoreError(
                    f"{self.path} already holds {sizes[split]} {split} slots, more than the "
                    f"{want} requested; ask for at least {sizes[split]} or use another folder"
                )
        for split in SPLITS:
            want = config.counts.get(split, 0)
            if want > sizes[split]:
                arrays = self.split(split)
                for name in arrays.group.array_keys():
                    arr = arrays[name]
                    arr.resize((want, *arr.shape[1:]))
                arrays.group.attrs.update({"requested": want, "checksum": None})
        self.root.attrs["neurotwin"] = {
            **self.meta,
            "config": {**self.meta["config"], "counts": dict(config.counts)},
        }

    # -- access --------------------------------------------------------------------------
    def split(self, name: str) -> SplitArrays:
        if name not in SPLITS:
            raise StoreError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        if name not in self.root:
            raise StoreError(f"{self.path} has no {name!r} split (corrupt store?)")
        return SplitArrays(self.root[name])  # type: ignore[arg-type]

    def pending(self, split: str) -> np.ndarray:
        return np.flatnonzero(~self.split(split).done_mask())

    def write_slots(
        self, split: str, slots: list[int], samples: list[dict[str, Any]], dropped: dict[str, int]
    ) -> None:
        """Write accepted samples, then mark their slots done (in that order)."""
        arrays = self.split(split)
        attempts = arrays["attempt"][:]
        rates = arrays["rate_hz"][:]
        sums = arrays["checksum"][:]
        index = np.asarray(slots)
        contiguous = bool(np.all(np.diff(index) == 1))
        where: Any = slice(int(index[0]), int(index[-1]) + 1) if contiguous else index
        for name in self._array_specs():  # one write per array for the whole task
            arrays[name][where] = np.stack([sample["arrays"][name] for sample in samples])
        for slot, sample in zip(slots, samples, strict=True):
            attempts[slot] = sample["attempt"]
            rates[slot] = sample["rate_hz"]
            sums[slot] = sample["checksum"]
        arrays["attempt"][:] = attempts
        arrays["rate_hz"][:] = rates
        arrays["checksum"][:] = sums
        done = arrays.done_mask()
        done[slots] = True
        arrays["done"][:] = done
        total = dict(arrays.group.attrs.get("dropped", {}))
        for reason, count in dropped.items():
            total[reason] = int(total.get(reason, 0)) + int(count)
        arrays.group.attrs["dropped"] = total
        if done.all():
            arrays.group.attrs["checksum"] = split_checksum(sums)

    def load(self, split: str, index: int) -> dict[str, np.ndarray]:
        arrays = self.split(split)
        return {name: np.asarray(arrays[name][index]) for name in self._array_specs()}

    def verify(self, split: str) -> list[int]:
        """Slots whose stored arrays no longer match their checksum."""
        arrays = self.split(split)
        sums = arrays["checksum"][:]
        return [
            int(i)
            for i in np.flatnonzero(arrays.done_mask())
            if sample_checksum(self.load(split, int(i))) != int(sums[i])
        ]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": str(self.path), "config_hash": self.meta["config_hash"]}
        for split in SPLITS:
            a = self.split(split)
            done = a.done_mask()
            rates = np.asarray(a["rate_hz"][:])[done]
            out[split] = {
                "requested": a.size,
                "done": int(done.sum()),
                "dropped": dict(a.group.attrs.get("dropped", {})),
                "rate_hz_mean": float(rates.mean()) if rates.size else None,
            }
        return out


def split_checksum(per_sample: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(per_sample, dtype="<u8").tobytes()).hexdigest()


def open_dataset(path: str | Path) -> DatasetStore:
    """Open a dataset for reading. Raises :class:`StoreError` (a ValueError) if it is missing
    or not a neurotwin dataset."""
    return DatasetStore.open(path, mode="r")


def dumps_summary(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2)
