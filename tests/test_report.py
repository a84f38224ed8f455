"""``neurotwin report``: study reports gathered into results/REPORT.md and one HTML page.

Every test builds a small fake results tree (hand-written REPORT.md files, tiny real PNGs, one
report written by the studies' own ``write_report``); nothing is trained or simulated.
"""

from __future__ import annotations

import base64
import os
import re
import struct
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neurotwin.cli import app
from neurotwin.experiments.common import Scale, write_report
from neurotwin.experiments.report import build_report, find_reports, parse_command

RUNNER = CliRunner()


def tiny_png(path: Path, rgb: tuple[int, int, int]) -> bytes:
    """Write a real 2 × 2 RGB PNG of one colour to ``path``; returns its bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + bytes(rgb) * 2 for _ in range(2))  # filter byte + 2 pixels a row
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


COMPLEXITY_BODY = """# Complexity study — {scale} scale

Intro with a [table](table.csv) and a [sibling study](../../smallest/demo/REPORT.md).

## Results

![AUC by config](auc_by_config.png)

### Details

```python
# a comment in code, not a heading
x = "![not an image](inside_code.png)"
```

Inline `![code span](kept.png)` stays as written.
"""

INVERSE = """# Inverse problem — smoke scale

Made by `neurotwin inverse demo --scale smoke`. Ensembles of CNN regressors.

## Figures

- izhikevich: [scatter](izhikevich/scatter.png), [corner](izhikevich/corner.png)
"""

SWEEP = """# Sweep lr

![trials](trials.png)
![gone](missing.png)

## How this was made

```
neurotwin sweep --name lr --trials 4
```
"""


@pytest.fixture()
def results(tmp_path: Path) -> dict[str, object]:
    """A results tree: complexity at smoke and demo (via write_report), inverse, a sweep with a
    missing figure, and a study outside the preferred order."""
    root = tmp_path / "results"
    pngs: dict[str, bytes] = {}
    for i, scale in enumerate(("smoke", "demo")):
        out = root / "complexity" / scale
        pngs[f"complexity/{scale}/auc_by_config.png"] = tiny_png(
            out / "auc_by_config.png", (200, 10 * i, 0)
        )
        (out / "table.csv").write_text("a,b\n1,2\n")
        sc = Scale(
            "complexity", scale, {"train": 1, "valid": 1, "test": 1, "duration_ms": 8}, {}, {}
        )
        write_report(
            out / "REPORT.md",
            COMPLEXITY_BODY.format(scale=scale),
            sc,
            f"neurotwin study complexity --scale {scale}",
        )
    inv = root / "inverse" / "smoke"
    inv.mkdir(parents=True)
    (inv / "REPORT.md").write_text(INVERSE)
    pngs["inverse/smoke/izhikevich/scatter.png"] = tiny_png(
        inv / "izhikevich/scatter.png", (0, 9, 90)
    )
    pngs["inverse/smoke/izhikevich/corner.png"] = tiny_png(
        inv / "izhikevich/corner.png", (0, 99, 9)
    )
    sweep = root / "sweeps" / "lr"
    sweep.mkdir(parents=True)
    (sweep / "REPORT.md").write_text(SWEEP)
    pngs["sweeps/lr/trials.png"] = tiny_png(sweep / "trials.png", (1, 2, 3))
    (root / "aardvark").mkdir()
    (root / "aardvark" / "REPORT.md").write_text("Just text, no title.\n")
    return {"root": root, "pngs": pngs}


def test_toc_lists_every_study_and_scale_with_its_command(results: dict) -> None:
    md_path, html_path = build_report(results["root"])
    assert md_path == results["root"] / "REPORT.md"
    assert html_path == results["root"] / "report.html"
    text = md_path.read_text()
    assert text.startswith("# neurotwin results\n")
    assert "Generated " in text
    toc = text.split("## Contents", 1)[1].split("\n---\n", 1)[0]
    rows = [line for line in toc.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| study | scale |")
    expected = [
        ("complexity", "demo", "`neurotwin study complexity --scale demo`"),
        ("complexity", "smoke", "`neurotwin study complexity --scale smoke`"),
        ("sweeps/lr", "–", "`neurotwin sweep --name lr --trials 4`"),
        ("inverse", "smoke", "`neurotwin inverse demo --scale smoke`"),  # inline fallback
        ("aardvark", "–", "–"),
    ]
    assert len(rows) == 1 + len(expected)
    for row, (study, scale, command) in zip(rows[1:], expected, strict=True):
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[0] == study and cells[1] == scale, row
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cells[3]), row
        assert cells[4] == command, row
        assert "(#study-" in cells[2] and "/REPORT.md)" in cells[2], row
    for anchor in ("study-complexity-demo", "study-sweeps-lr", "study-aardvark"):
        assert f'<a id="{anchor}"></a>' in text
        assert f"(#{anchor})" in text


def test_order_preferred_studies_then_others_and_full_demo_smoke(tmp_path: Path) -> None:
    root = tmp_path / "results"
    layout = [
        "zoo/REPORT.md",
        "inverse/smoke/REPORT.md",
        "lif/smoke/REPORT.md",
        "lif/full/REPORT.md",
        "lif/demo/REPORT.md",
        "demo/REPORT.md",
        "sweeps/b/REPORT.md",
        "sweeps/a/REPORT.md",
        "ablation/demo/REPORT.md",
        "smallest/smoke/REPORT.md",
        "complexity/smoke/REPORT.md",
    ]
    for rel in layout:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# {rel}\n")
    (root / "REPORT.md").write_text("# an old combined report, not a study\n")
    (root / "lif" / "smoke" / "deep" / "x").mkdir(parents=True)
    (root / "lif" / "smoke" / "deep" / "x" / "REPORT.md").write_text("# three levels down\n")
    order = [r.rel_dir for r in find_reports(root)]
    assert order == [
        "complexity/smoke",
        "smallest/smoke",
        "ablation/demo",
        "lif/full",
        "lif/demo",
        "lif/smoke",
        "sweeps/a",
        "sweeps/b",
        "inverse/smoke",
        "demo",
        "zoo",
    ]


def test_headings_demoted_and_code_left_alone(results: dict) -> None:
    text = build_report(results["root"])[0].read_text()
    assert "\n## Complexity study — demo scale\n" in text
    assert "\n### Results\n" in text and "\n#### Details\n" in text
    assert "\n### How this was made\n" in text
    assert "\n## Inverse problem — smoke scale\n" in text
    assert "\n# a comment in code, not a heading\n" in text  # inside a fence: unchanged
    assert 'x = "![not an image](inside_code.png)"' in text
    assert "`![code span](kept.png)`" in text
    assert "\n## aardvark\n" in text  # a report without a title gets one
    # the title and the code comment of both complexity reports
    assert len(re.findall(r"^# ", text, flags=re.M)) == 3


def test_paths_rewritten_to_resolve_from_results(results: dict) -> None:
    root: Path = results["root"]
    text = build_report(root)[0].read_text()
    assert "![AUC by config](complexity/demo/auc_by_config.png)" in text
    assert "![AUC by config](complexity/smoke/auc_by_config.png)" in text
    assert "[table](complexity/demo/table.csv)" in text
    assert "[sibling study](smallest/demo/REPORT.md)" in text  # ../../ normalised away
    assert "[scatter](inverse/smoke/izhikevich/scatter.png)" in text
    assert "![trials](sweeps/lr/trials.png)" in text
    outside_code = re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.S)
    targets = re.findall(r"\]\(([^)#\s]+)\)", outside_code)
    files = [t for t in targets if not t.endswith("missing.png")]
    assert len(files) >= 8
    for target in files:
        if target.startswith("smallest/"):
            continue  # a link to a study this tree does not have
        assert (root / target).is_file(), target


def test_html_is_self_contained_with_every_image_embedded(results: dict) -> None:
    page = build_report(results["root"])[1].read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and "<table>" in page
    for rel, data in results["pngs"].items():
        uri = "data:image/png;base64," + base64.b64encode(data).decode()
        assert uri in page, rel
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/") for s in srcs), srcs
    assert 'href="#study-complexity-demo"' in page and 'id="study-complexity-demo"' in page
    assert "inside_code.png" in page  # shown as code, not turned into an image
    assert "<img" not in page.split("<pre>", 1)[1].split("</pre>", 1)[0]


def test_missing_figure_keeps_alt_text_and_a_note(results: dict) -> None:
    md_path, html_path = build_report(results["root"])
    assert "![gone](sweeps/lr/missing.png) *(missing figure: `sweeps/lr/missing.png`)*" in (
        md_path.read_text()
    )
    page = html_path.read_text()
    note = re.search(r'<span class="missing-figure"[^>]*>(.*?)</span>', page)
    assert note is not None
    assert "gone" in note.group(1) and "missing figure" in note.group(1)
    assert "sweeps/lr/missing.png" in note.group(1)
    assert page.count("missing figure") == 1


def test_parse_command_reads_the_how_section_then_inline_code() -> None:
    how = "# T\n\n## How this was made\n\n```json\n{}\n```\n\n```bash\n$ neurotwin a --b\n```\n"
    assert parse_command(how) == "neurotwin a --b"
    assert parse_command("# T\n\nMade by `neurotwin demo`.\n") == "neurotwin demo"
    assert parse_command("# T\n\nnothing here\n") is None


def test_empty_or_missing_results_raise_a_clear_error(tmp_path: Path) -> None:
    for root in (tmp_path / "nothing", tmp_path / "empty"):
        if root.name == "empty":
            (root / "complexity" / "smoke").mkdir(parents=True)
        with pytest.raises(
            ValueError, match=r"no study reports under .*neurotwin study complexity"
        ):
            build_report(root)
    assert not (tmp_path / "empty" / "REPORT.md").exists()


def test_cli_reports_paths_and_fails_in_one_line(results: dict, tmp_path: Path) -> None:
    ok = RUNNER.invoke(app, ["report", "--results", str(results["root"])])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.splitlines() == [
        f"wrote {results['root'] / 'REPORT.md'}",
        f"wrote {results['root'] / 'report.html'}",
    ]
    (tmp_path / "empty").mkdir()
    for root in (tmp_path / "missing", tmp_path / "empty"):
        bad = RUNNER.invoke(app, ["report", "--results", str(root)])
        assert bad.exit_code == 2, (bad.output, bad.exception)
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: no study reports under"), lines
        assert "Traceback" not in bad.output


def test_rerun_replaces_both_files_atomically(results: dict) -> None:
    root: Path = results["root"]
    md_path, html_path = build_report(root)
    before = {p: os.stat(p).st_ino for p in (md_path, html_path)}
    (root / "lif" / "smoke").mkdir(parents=True)
    (root / "lif" / "smoke" / "REPORT.md").write_text("# LIF — smoke\n")
    build_report(root)
    assert "LIF — smoke" in md_path.read_text() and "LIF — smoke" in html_path.read_text()
    for p, inode in before.items():
        assert os.stat(p).st_ino != inode, f"{p.name} was rewritten in place"
    assert sorted(p.name for p in root.iterdir() if p.is_file()) == ["REPORT.md", "report.html"]
