"""What every command shares: the error-to-exit-code wrapper and ``--set KEY=VALUE`` parsing.

Kept apart from :mod:`neurotwin.cli` (which imports the command groups) so that command modules
can import it at module level without an import cycle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import typer
import yaml

F = TypeVar("F", bound=Callable[..., Any])
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """One ``error: …`` line on stderr and exit ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def friendly(fn: F) -> F:
    """Map library errors to one readable line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from neurotwin.interrupt import Interrupted

        try:
            return fn(*args, **kwargs)
        except Interrupted as exc:
            fail(str(exc), EXIT_INTERRUPTED)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    return wrapper  # type: ignore[return-value]


def parse_sets(pairs: list[str] | None, what: str = "--set") -> dict[str, Any]:
    """``["a=1", "b=x"]`` → ``{"a": 1, "b": "x"}`` with YAML scalars (numbers, bools, lists)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} expects KEY=VALUE, got {pair!r}")
        parsed = yaml.safe_load(value) if value.strip() else ""
        out[key.strip()] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out


def save_npz(path: Path, arrays: dict[str, Any]) -> None:
    """Write ``arrays`` to ``path`` through a temporary name (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    tmp.replace(path)
