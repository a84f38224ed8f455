"""Every study in ``results/`` gathered into one ``results/REPORT.md`` and one HTML page.

A study writes ``results/<study>/<scale>/REPORT.md`` (or ``results/<name>/REPORT.md``, or
``results/sweeps/<name>/REPORT.md``) with its figures beside it. :func:`build_report` finds every
such report one or two folders below the results root, orders them (the studies in
:data:`STUDY_ORDER`, then the others alphabetically; within a study the scales full, demo, smoke,
then the others), and writes

- ``REPORT.md``: a title, when it was made, a table of contents (study, scale, links, when each
  report was written and the command that made it), then each report with its headings demoted
  one level and its relative image and link paths rewritten to resolve from the results root;
- ``report.html``: the same text rendered to one self-contained page, every figure embedded as a
  base64 data URI (figures a report only links to, like the inverse demo's, are embedded too), a
  "missing figure" note where a file is gone.

Both files are written through a temporary name and a rename.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from neurotwin.experiments.common import SCALES

__all__ = ["STUDY_ORDER", "StudyReport", "build_report", "find_reports", "render_html"]

log = logging.getLogger(__name__)

STUDY_ORDER = ("complexity", "smallest", "ablation", "lif", "sweep", "sweeps", "inverse")
SCALE_ORDER = tuple(reversed(SCALES))  # full, demo, smoke
REPORT_NAME = "REPORT.md"
HTML_NAME = "report.html"
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class StudyReport:
    """One study's REPORT.md: where it is, what it is, when and how it was made."""

    path: Path  # the REPORT.md file
    rel_dir: str  # its folder relative to the results root, posix ("complexity/demo")
    study: str  # "complexity", "sweeps/lr"
    scale: str  # "demo", or "" where the folder is not a scale
    title: str
    written: datetime
    command: str | None
    text: str

    @property
    def anchor(self) -> str:
        return "study-" + (re.sub(r"[^a-z0-9]+", "-", self.rel_dir.lower()).strip("-") or "root")


def build_report(results_root: str | Path = "results") -> tuple[Path, Path]:
    """Gather every study report under ``results_root`` into ``REPORT.md`` and ``report.html``
    there; returns both paths. Raises ``ValueError`` when there is no study report."""
    from neurotwin.train.checkpoint import atomic_write_text

    root = Path(results_root)
    reports = find_reports(root)
    generated = datetime.now().astimezone()
    md_path, html_path = root / REPORT_NAME, root / HTML_NAME
    atomic_write_text(md_path, combine(reports, root, generated, notes=True))
    page = render_html(combine(reports, root, generated, notes=False), root)
    atomic_write_text(html_path, page)
    log.info("wrote %s and %s (%d study reports)", md_path, html_path, len(reports))
    return md_path, html_path


def find_reports(results_root: str | Path = "results") -> list[StudyReport]:
    """Every study report one or two folders below ``results_root``, in report order."""
    root = Path(results_root)
    found = [root / d / REPORT_NAME for d in _subdirs(root)]
    found += [root / d / s / REPORT_NAME for d in _subdirs(root) for s in _subdirs(root / d)]
    reports = [_read_report(p, root) for p in found if p.is_file()]
    if not reports:
        raise ValueError(
            f"no study reports under {root.as_posix()}/; run e.g. "
            "`neurotwin study complexity --scale smoke` first"
        )
    return sorted(reports, key=_order_key)


def _subdirs(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_report(path: Path, root: Path) -> StudyReport:
    rel = path.parent.relative_to(root).as_posix()
    parts = rel.split("/")
    study, scale = rel, ""
    if len(parts) == 2 and _is_scale(path.parent):
        study, scale = parts
    text = path.read_text(encoding="utf-8", errors="replace")
    return StudyReport(
        path=path,
        rel_dir=rel,
        study=study,
        scale=scale,
        title=_title(text) or (f"{study} · {scale}" if scale else study),
        written=datetime.fromtimestamp(path.stat().st_mtime).astimezone(),
        command=parse_command(text),
        text=text,
    )


def _is_scale(folder: Path) -> bool:
    """A folder is a scale if it is named like one or its config.json says it is."""
    if folder.name in SCALES:
        return True
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("scale") == folder.name


def _order_key(r: StudyReport) -> tuple[int, str, int, str]:
    group = r.study.split("/")[0]
    rank = STUDY_ORDER.index(group) if group in STUDY_ORDER else len(STUDY_ORDER)
    srank = SCALE_ORDER.index(r.scale) if r.scale in SCALE_ORDER else len(SCALE_ORDER)
    return (rank, r.study, srank, r.scale)


# -- reading a study's report ----------------------------------------------------------------
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^( {0,3})(#{1,6})(?=\s|$)(.*)$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)")


def _lines_outside_fences(text: str) -> list[tuple[str, bool]]:
    """Each line of ``text`` and whether it lies outside fenced code (fence lines count as in)."""
    out: list[tuple[str, bool]] = []
    fence: str | None = None
    for line in text.splitlines():
        m = _FENCE.match(line)
        if fence is None and m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            fence = m.group(1)
            out.append((line, False))
        elif fence is not None:
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not (m.group(2).strip())
            ):
                fence = None
            out.append((line, False))
        else:
            out.append((line, True))
    return out


def _title(text: str) -> str | None:
    """The first level-1 heading (``# Title`` or ``Title`` underlined with ``===``)."""
    lines = _lines_outside_fences(text)
    for i, (line, outside) in enumerate(lines):
        m = _ATX.match(line) if outside else None
        if m and len(m.group(2)) == 1:
            return m.group(3).strip().rstrip("#").strip() or None
        s = _SETEXT.match(line) if outside and i > 0 else None
        if s and s.group(1)[0] == "=" and lines[i - 1][1] and _plain_paragraph(lines[i - 1][0]):
            return lines[i - 1][0].strip()
    return None


COMMAND_FENCES = ("", "bash", "sh", "shell", "console", "text")


def parse_command(text: str) -> str | None:
    """The command that made a report: the first plain (or shell) code block of its "How this
    was made" section, else the first inline code span that starts with ``neurotwin``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _ATX.match(line)
        if not (m and _heading_text(m) == "how this was made"):
            continue
        level = len(m.group(2))
        for info, block in _fenced_blocks(lines[i + 1 :], level):
            command = " ".join(s.strip().removeprefix("$ ") for s in block if s.strip())
            if info in COMMAND_FENCES and command:
                return command
        break
    for line, outside in _lines_outside_fences(text):
        if not outside:
            continue
        for span in _CODE_SPAN.finditer(line):
            code = span.group(0).strip("`").strip()
            if code.startswith("neurotwin"):
                return code
    return None


def _heading_text(m: re.Match[str]) -> str:
    return m.group(3).strip().rstrip("#").strip().lower()


def _fenced_blocks(lines: list[str], level: int) -> list[tuple[str, list[str]]]:
    """The fenced code blocks (info word, lines) before the next heading of ``level`` or above."""
    blocks: list[tuple[str, list[str]]] = []
    fence: str | None = None
    for line in lines:
        f = _FENCE.match(line)
        if fence is None:
            h = _ATX.match(line)
            if h and len(h.group(2)) <= level:
                break
            if f:
                fence = f.group(1)
                words = f.group(2).split()
                blocks.append((words[0].lower() if words else "", []))
        elif f and f.group(1)[0] == fence[0] and len(f.group(1)) >= len(fence):
            fence = None
        else:
            blocks[-1][1].append(line)
    return blocks


# -- rewriting a study's report for the results root -----------------------------------------
_LINK = re.compile(
    r"(?P<bang>!?)\[(?P<text>(?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*(?P<target><[^>\n]*>|[^\s()]+)"
    r"(?P<title>\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
_HTML_SRC = re.compile(r"(<(?:img|a)\b[^>]*?\b(?:src|href)=\")([^\"]+)(\")", re.IGNORECASE)
_REF_DEF = re.compile(r"^( {0,3}\[[^\]]+\]:\s*)(<[^>]*>|\S+)(.*)$")


def is_relative(target: str) -> bool:
    """Whether a link target is a relative path (not a URL, an anchor, absolute or a data URI)."""
    return bool(target) and not (
        target.startswith(("#", "/", "\\")) or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target)
    )


def rebase(target: str, prefix: str) -> str:
    """``target`` (relative to the folder ``prefix``) relative to the results root."""
    if not is_relative(target):
        return target
    path, sep, fragment = target.partition("#")
    joined = posixpath.normpath(posixpath.join(prefix, path)) if path else ""
    return joined + sep + fragment


def _rewrite_inline(segment: str, prefix: str, exists: Callable[[str], bool], notes: bool) -> str:
    def link(m: re.Match[str]) -> str:
        raw = m.group("target")
        target = raw[1:-1] if raw.startswith("<") else raw
        new = rebase(target, prefix)
        shown = f"<{new}>" if (" " in new or raw.startswith("<")) else new
        text = m.group("text")
        if not m.group("bang"):  # a link around an image: rebase the image too
            text = _rewrite_inline(text, prefix, exists, notes)
        out = f"{m.group('bang')}[{text}]({shown}{m.group('title') or ''})"
        if notes and m.group("bang") and is_relative(new) and not exists(new):
            out += f" *(missing figure: `{new}`)*"
        return out

    segment = _LINK.sub(link, segment)
    return _HTML_SRC.sub(lambda m: m.group(1) + rebase(m.group(2), prefix) + m.group(3), segment)


def include(
    report: StudyReport, exists: Callable[[str], bool] | None = None, notes: bool = False
) -> str:
    """The text of ``report`` with headings demoted one level and relative paths rebased to the
    results root; with ``notes``, a "missing figure" note after each image ``exists`` denies."""
    exists = exists or (lambda _p: True)
    prefix = report.rel_dir
    out: list[str] = []
    lines = _lines_outside_fences(report.text)
    for i, (line, outside) in enumerate(lines):
        if not outside:
            out.append(line)
            continue
        m = _ATX.match(line)
        if m:
            hashes = m.group(2) + ("#" if len(m.group(2)) < 6 else "")
            out.append(m.group(1) + hashes + _rewrite_inline(m.group(3), prefix, exists, notes))
            continue
        s = _SETEXT.match(line)
        prev = out[-1] if out else ""
        if s and i > 0 and lines[i - 1][1] and _plain_paragraph(prev):
            out[-1] = ("## " if s.group(1)[0] == "=" else "### ") + prev.strip()
            continue
        r = _REF_DEF.match(line)
        if r:
            raw = r.group(2)
            target = raw[1:-1] if raw.startswith("<") else raw
            out.append(r.group(1) + rebase(target, prefix) + r.group(3))
            continue
        pieces: list[str] = []
        pos = 0
        for span in _CODE_SPAN.finditer(line):  # code spans are kept as written
            pieces.append(_rewrite_inline(line[pos : span.start()], prefix, exists, notes))
            pieces.append(span.group(0))
            pos = span.end()
        pieces.append(_rewrite_inline(line[pos:], prefix, exists, notes))
        out.append("".join(pieces))
    return "\n".join(out).strip("\n") + "\n"


def _plain_paragraph(line: str) -> bool:
    s = line.strip()
    return bool(s) and not re.match(r"^([-*+>|#]|\d+[.)]\s|<)", s)


# -- the combined markdown -------------------------------------------------------------------
def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    text = _cell(text)
    ticks = "``" if "`" in text else "`"
    return f"{ticks} {text} {ticks}" if ticks == "``" else f"`{text}`"


def combine(
    reports: list[StudyReport], root: Path, generated: datetime, *, notes: bool = True
) -> str:
    """The results-root REPORT.md of ``reports`` (found under ``root``)."""

    def exists(rel: str) -> bool:
        return _resolve(rel, root) is not None

    lines = [
        "# neurotwin results",
        "",
        f"Generated {generated.strftime(TIME_FORMAT)} by `neurotwin report` from "
        f"{len(reports)} study report{'s' if len(reports) != 1 else ''} under "
        f"`{root.as_posix()}/`.",
        "",
        '<a id="contents"></a>',
        "",
        "## Contents",
        "",
        "| study | scale | report | written | command |",
        "|---|---|---|---|---|",
    ]
    for r in reports:
        source = posixpath.join(r.rel_dir, REPORT_NAME)
        lines.append(
            f"| {_cell(r.study)} | {_cell(r.scale) or '–'} | "
            f"[{_cell(r.title)}](#{r.anchor}) ([{REPORT_NAME}]({source})) | "
            f"{r.written.strftime(TIME_FORMAT)} | {_code(r.command) if r.command else '–'} |"
        )
    for r in reports:
        body = include(r, exists, notes)
        lines += ["", "---", "", f'<a id="{r.anchor}"></a>', ""]
        if _title(r.text) is None:
            lines += [f"## {r.title}", ""]
        lines += [body.rstrip("\n"), "", "[↑ contents](#contents)"]
    return "\n".join(lines) + "\n"


# -- the HTML page ---------------------------------------------------------------------------
CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       max-width: 1100px; margin: 2rem auto; padding: 0 1.5rem; }
h1, h2, h3, h4 { line-height: 1.25; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 13px; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left;
         vertical-align: top; }
th { background: #f3f4f6; }
tr:nth-child(even) td { background: #fafbfc; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f4f6;
       padding: .1rem .3rem; border-radius: 3px; }
pre { background: #f6f8fa; padding: .8rem 1rem; overflow-x: auto; border-radius: 6px; }
pre code { background: none; padding: 0; }
img { max-width: 100%; height: auto; }
.linked-figure { display: inline-block; vertical-align: top; max-width: 48%; margin: .4rem; }
.linked-figure .caption { display: block; font-size: 12px; color: #57606a; }
.missing-figure { display: inline-block; border: 1px dashed #cf222e; color: #cf222e;
                  padding: .3rem .6rem; margin: .2rem 0; border-radius: 4px; }
hr { border: 0; border-top: 2px solid #d0d7de; margin: 2.5rem 0 1rem; }
"""

_IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_A_TAG = re.compile(r"<a\b([^>]*)>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_ATTR = r"\b{}=\"([^\"]*)\""


def _attr(tag: str, name: str) -> str | None:
    m = re.search(_ATTR.format(name), tag, re.IGNORECASE)
    return html.unescape(m.group(1)) if m else None


def _resolve(src: str, root: Path) -> Path | None:
    """The file a figure reference names (relative to ``root``, or absolute), if it exists."""
    if src.startswith("file://"):
        src = src[len("file://") :]
    elif not is_relative(src) and not src.startswith("/"):
        return None
    path = unquote(src.partition("#")[0].partition("?")[0])
    if not path:
        return None
    p = Path(path) if path.startswith("/") else root / path
    return p if p.is_file() else None


def _embeddable(src: str) -> bool:
    return not src.startswith(("data:", "#")) and (
        is_relative(src) or src.startswith(("/", "file://"))
    )


def _data_uri(path: Path) -> str:
    mime = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _missing(alt: str, src: str) -> str:
    return (
        f'<span class="missing-figure" role="img" aria-label="{html.escape(alt)}">'
        f"{html.escape(alt) or 'figure'} (missing figure: <code>{html.escape(src)}</code>)"
        "</span>"
    )


def render_html(text: str, root: Path, title: str = "neurotwin results") -> str:
    """``text`` (markdown whose relative paths resolve from ``root``) as one self-contained HTML
    page: every image, and every linked image file, embedded as a base64 data URI."""
    import markdown

    body = markdown.markdown(text, extensions=["tables", "fenced_code"], output_format="html")

    def linked(m: re.Match[str]) -> str:
        href = _attr(m.group(0), "href") or ""
        suffix = Path(unquote(href.partition("#")[0])).suffix.lower()
        if not _embeddable(href) or suffix not in IMAGE_TYPES:
            return m.group(0)
        if "<img" in m.group(2).lower():  # a linked thumbnail: the image itself is embedded
            return m.group(2)
        caption = html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip()
        path = _resolve(href, root)
        if path is None:
            return _missing(caption, href)
        return (
            f'<span class="linked-figure"><img alt="{html.escape(caption)}" '
            f'src="{_data_uri(path)}" /><span class="caption">{html.escape(caption)}</span></span>'
        )

    def image(m: re.Match[str]) -> str:
        tag = m.group(0)
        src = _attr(tag, "src") or ""
        if not _embeddable(src):
            return tag
        alt = _attr(tag, "alt") or ""
        path = _resolve(src, root)
        if path is None:
            return _missing(alt, src)
        return re.sub(
            _ATTR.format("src"), lambda _m: f'src="{_data_uri(path)}"', tag, flags=re.IGNORECASE
        )

    body = _IMG_TAG.sub(image, _A_TAG.sub(linked, body))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8" />\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1" />\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
