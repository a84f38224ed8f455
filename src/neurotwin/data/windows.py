"""Torch datasets of time windows over a dataset store.

Two datasets read a split of a :class:`~neurotwin.data.store.DatasetStore`:

* :class:`RandomWindows` — an endless, seeded stream of random windows for training. Item ``k``
  draws a simulation uniformly, then a start uniformly, from its own generator
  ``SeedSequence(seed, spawn_key=(k,))``: the window of item ``k`` never depends on the order of
  reads, the number of workers or on an interruption, so a resumed run sees the same batches.
* :class:`FixedWindows` — deterministic windows for validation and evaluation: a tiling of every
  simulation, or one window per simulation at given offsets.

Items are ``(inputs, targets)``: inputs ``(*input_shape, W)`` float32 (``(C, W)`` for the LIF
cell, ``(2, S, W)`` for a ball-and-stick), targets a dict of ``(C_k, W)`` float32 arrays in raw
dataset units (mV, spikes/ms, 0/1), keyed by head name (``spike``, ``soma``, ``near_spike``,
``inst_rate``, ``dend``) or by store array name for extra arrays (``soma_uncapped``).

Simulations are read whole into memory when the arrays needed fit under ``memory_budget_gb``;
otherwise every item reads its window from Zarr (one chunk = one simulation is decompressed).
A simulation shorter than the window is used whole (the window is clamped to T).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from neurotwin.data.store import DatasetStore

log = logging.getLogger(__name__)

# head name → store array name
HEAD_ARRAYS: dict[str, str] = {
    "spike": "spikes",
    "soma": "soma",
    "near_spike": "near_spike",
    "inst_rate": "inst_rate",
    "dend": "dend",
}
EXTRA_ARRAYS: tuple[str, ...] = ("soma_uncapped",)
DEFAULT_MEMORY_BUDGET_GB = 2.0

Item = tuple[Tensor, dict[str, Tensor]]


def available_targets(store: DatasetStore) -> tuple[str, ...]:
    """Head names whose target the store holds (``dend`` only for cells with dendrites)."""
    return tuple(h for h in HEAD_ARRAYS if h != "dend" or store.config.cell.num_dend > 0)


class _SplitReader:
    """Reads windows of the finished simulations of one split, from memory or from Zarr."""

    def __init__(
        self,
        store: DatasetStore,
        split: str,
        targets: Sequence[str],
        memory_budget_gb: float,
        max_sims: int | None = None,
    ) -> None:
        if memory_budget_gb < 0:
            raise ValueError(f"memory_budget_gb must be >= 0, got {memory_budget_gb}")
        arrays = store.split(split)
        valid = set(available_targets(store)) | set(EXTRA_ARRAYS)
        unknown = [t for t in targets if t not in valid]
        if unknown:
            raise ValueError(
                f"unknown or unavailable target(s) {unknown} in {store.path}; "
                f"valid: {', '.join(sorted(valid))}"
            )
        self.sims = np.flatnonzero(arrays.done_mask())
        if max_sims is not None:
            self.sims = self.sims[:max_sims]
        if self.sims.size == 0:
            raise ValueError(f"the {split!r} split of {store.path} holds no finished simulations")
        self.split = split
        self.targets = tuple(targets)
        self.duration_ms = int(store.config.duration_ms)
        self._names = {"inputs": "inputs", **{t: HEAD_ARRAYS.get(t, t) for t in self.targets}}
        self._zarr = {key: arrays[name] for key, name in self._names.items()}
        per_sim = sum(
            int(np.prod(a.shape[1:])) * np.dtype(a.dtype).itemsize for a in self._zarr.values()
        )
        need = per_sim * self.sims.size
        self.cached = need <= memory_budget_gb * 1e9
        self._mem: dict[str, np.ndarray] = {}
        if self.cached:
            contiguous = bool(np.all(np.diff(self.sims) == 1))
            sel: Any = slice(int(self.sims[0]), int(self.sims[-1]) + 1) if contiguous else None
            for key, arr in self._zarr.items():
                self._mem[key] = np.asarray(arr[sel] if sel is not None else arr.oindex[self.sims])
        log.debug(
            "%s split: %d simulations, %.1f MB, %s",
            split,
            self.sims.size,
            need / 1e6,
            "cached in memory" if self.cached else "read per item",
        )

    @property
    def num_sims(self) -> int:
        return int(self.sims.size)

    def read(self, pos: int, start: int, stop: int) -> Item:
        """Window ``[start, stop)`` of the ``pos``-th finished simulation."""
        out: dict[str, np.ndarray] = {}
        for key in self._names:
            if self.cached:
                a = self._mem[key][pos, ..., start:stop]
            else:
                z = self._zarr[key]
                a = np.asarray(
                    z[(int(self.sims[pos]), *([slice(None)] * (z.ndim - 2)), slice(start, stop))]
                )
            out[key] = a
        x = torch.from_numpy(out.pop("inputs").astype(np.float32))
        targets = {
            key: torch.from_numpy(np.asarray(a, dtype=np.float32).reshape(-1, stop - start))
            for key, a in out.items()
        }  # each (C_k, W)
        return x, targets


class RandomWindows(Dataset[Item]):
    """Seeded random windows of ``window_ms`` from a split (default: train).

    ``len()`` is one epoch (one window per finished simulation), but any index ``k >= 0`` is
    valid: item ``k`` is the ``k``-th window of an endless stream determined by ``seed``.
    """

    def __init__(
        self,
        store: DatasetStore,
        split: str = "train",
        *,
        window_ms: int = 2048,
        seed: int = 0,
        targets: Sequence[str] | None = None,
        memory_budget_gb: float = DEFAULT_MEMORY_BUDGET_GB,
    ) -> None:
        if window_ms < 1:
            raise ValueError(f"window_ms must be >= 1, got {window_ms}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.reader = _SplitReader(
            store, split, available_targets(store) if targets is None else targets, memory_budget_gb
        )
        self.seed = int(seed)
        self.window_ms = min(int(window_ms), self.reader.duration_ms)
        if self.window_ms < window_ms:
            log.info("window of %d ms clamped to the %d ms simulations", window_ms, self.window_ms)

    def __len__(self) -> int:
        return self.reader.num_sims

    def rng(self, k: int) -> np.random.Generator:
        """The generator of item ``k``."""
        if k < 0:
            raise IndexError(f"item index must be >= 0, got {k}")
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(int(k),)))

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """(simulation position, start ms) of one window: a simulation uniformly, then a start
        uniformly in ``[0, T - W]``."""
        pos = int(rng.integers(self.reader.num_sims))
        start = int(rng.integers(self.reader.duration_ms - self.window_ms + 1))
        return pos, start

    def sample(self, rng: np.random.Generator) -> Item:
        """One window drawn with ``rng``."""
        pos, start = self.draw(rng)
        return self.reader.read(pos, start, start + self.window_ms)

    def __getitem__(self, k: int) -> Item:
        return self.sample(self.rng(k))

    def batch(self, indices: Sequence[int] | range) -> Item:
        """Items ``indices`` stacked: inputs (B, *input_shape, W), targets (B, C_k, W)."""
        return collate([self[int(k)] for k in indices])


class FixedWindows(Dataset[Item]):
    """Deterministic windows of a split (default: valid).

    ``starts``:
      * ``"tile"`` — windows at 0, W, 2W, ... covering every simulation; the last one is moved
        back to end at T (it may overlap its neighbour); one window ``[0, T)`` when T <= W;
      * an int — one window per simulation starting there;
      * a sequence — one start per simulation (in the order of the finished simulations).
    A window that would pass the end of its simulation is shortened to end at T.
    ``windows`` lists ``(store index, start, length)`` of every item.
    """

    def __init__(
        self,
        store: DatasetStore,
        split: str = "valid",
        *,
        window_ms: int = 2048,
        starts: str | int | Sequence[int] = "tile",
        targets: Sequence[str] | None = None,
        memory_budget_gb: float = DEFAULT_MEMORY_BUDGET_GB,
        max_sims: int | None = None,
    ) -> None:
        if window_ms < 1:
            raise ValueError(f"window_ms must be >= 1, got {window_ms}")
        self.reader = _SplitReader(
            store,
            split,
            available_targets(store) if targets is None else targets,
            memory_budget_gb,
            max_sims,
        )
        t = self.reader.duration_ms
        w = min(int(window_ms), t)
        n = self.reader.num_sims
        per_sim: list[list[int]]
        if isinstance(starts, str):
            if starts != "tile":
                raise ValueError(f"starts must be 'tile', an int or a sequence, got {starts!r}")
            tiles = sorted({min(s, t - w) for s in range(0, t, w)})
            per_sim = [tiles] * n
        elif isinstance(starts, int | np.integer):
            per_sim = [[int(starts)]] * n
        else:
            if len(starts) != n:
                raise ValueError(
                    f"starts must hold one start per simulation ({n}), got {len(starts)}"
                )
            per_sim = [[int(s)] for s in starts]
        self._items: list[tuple[int, int, int]] = []  # (position, start, stop)
        for pos, sims_starts in enumerate(per_sim):
            for s in sims_starts:
                if not 0 <= s < t:
                    raise ValueError(f"window start must be in [0, {t}), got {s}")
                self._items.append((pos, s, min(s + w, t)))
        self.windows = [(int(self.reader.sims[p]), s, stop - s) for p, s, stop in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Item:
        pos, start, stop = self._items[i]
        return self.reader.read(pos, start, stop)

    def batches(self, batch_size: int) -> list[list[int]]:
        """Item indices in consecutive batches of at most ``batch_size``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        idx = list(range(len(self)))
        return [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]


def collate(items: Sequence[Item]) -> Item:
    """Stack items of one length: inputs (B, *input_shape, W), targets (B, C_k, W)."""
    xs, ts = zip(*items, strict=True)
    return torch.stack(xs), {k: torch.stack([t[k] for t in ts]) for k in ts[0]}


def collate_padded(items: Sequence[Item]) -> tuple[Tensor, dict[str, Tensor], Tensor]:
    """Stack items of different lengths, zero-padded at the end to the longest: returns inputs,
    targets and ``lengths`` (B,). Right padding never changes a causal twin's outputs before
    each item's length."""
    lengths = torch.tensor([x.shape[-1] for x, _ in items])
    w = int(lengths.max())

    def pad(a: Tensor) -> Tensor:
        return torch.nn.functional.pad(a, (0, w - a.shape[-1]))

    x, t = collate([(pad(x), {k: pad(v) for k, v in tg.items()}) for x, tg in items])
    return x, t, lengths
