"""``neurotwin report``: every study in results/ gathered into REPORT.md and one HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neurotwin.commands.common import friendly

__all__ = ["register"]

ResultsOpt = Annotated[
    Path, typer.Option(help="Results root holding <study>/<scale>/REPORT.md; written there.")
]


def register(app: typer.Typer, study_app: typer.Typer) -> None:
    """Add this module's command(s): study_app is ``neurotwin study``, ``app`` the top level."""

    @app.command("report")
    @friendly
    def report(results: ResultsOpt = Path("results")) -> None:
        """Gather every study report under RESULTS into RESULTS/REPORT.md (contents, commands,
        dates) and RESULTS/report.html (one self-contained page, figures embedded)."""
        from neurotwin.experiments.report import build_report

        md_path, html_path = build_report(results)
        typer.echo(f"wrote {md_path}")
        typer.echo(f"wrote {html_path}")
