"""Datasets: configuration, parallel resumable generation, the Zarr store."""

from neurotwin.data.config import SPLITS, DatasetConfig, FilterConfig
from neurotwin.data.generate import Interrupted, make_dataset
from neurotwin.data.store import DatasetStore, StoreError, open_dataset

__all__ = [
    "SPLITS",
    "DatasetConfig",
    "DatasetStore",
    "FilterConfig",
    "Interrupted",
    "StoreError",
    "make_dataset",
    "open_dataset",
]
