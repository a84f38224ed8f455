"""Shared helpers of the twin tests (imported by test_models*.py)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: intra-op threads only add synchronisation (badly so on a busy 2-core
    machine), so these tests run single-threaded and restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def events(batch: int, t: int, seed: int = 0, channels: int = 16) -> torch.Tensor:
    """Sparse non-negative event weights (B, C, T), like synaptic inputs."""
    g = torch.Generator().manual_seed(seed)
    hits = torch.rand(batch, channels, t, generator=g) < 0.08
    return hits * (0.5 + 2.0 * torch.rand(batch, channels, t, generator=g))
