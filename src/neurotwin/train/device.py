"""Devices and mixed precision: CUDA when present (autocast bf16/fp16 + GradScaler), else CPU."""

from __future__ import annotations

import contextlib

import torch


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return device


def amp_dtype(device: torch.device, mode: str) -> torch.dtype | None:
    """Autocast dtype: on CUDA only, bf16 when supported (``auto``) or as asked."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "fp16" or (mode == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
