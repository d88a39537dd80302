"""Every ```python block of README.md and docs/*.md runs as written (statistical tier), and the pages keep the
rules of reference documentation (fast).

Each page's blocks run in order in one namespace, in a fresh temporary working directory (pages write fit files
and folders), with the CPU backend and a headless matplotlib. A block whose info string carries ``no-run``
(```python no-run) is skipped: keep those for deliberately illustrative code (a multi-host launch script),
never for code that is merely slow; shrink its settings instead.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REFERENCE = [*PAGES, ROOT / "CONTRIBUTING.md", ROOT / "benchmarks" / "README.md", ROOT / "tests" / "README.md"]
FENCE = re.compile(r"^```(\w[\w-]*)?([^\n]*)\n(.*?)^```\s*$", re.S | re.M)


def code_blocks(path: Path) -> list[tuple[int, str]]:
    """The ```python blocks of a page that run: (line number, source), in order."""
    text = path.read_text()
    out = []
    for m in FENCE.finditer(text):
        lang, info, body = m.group(1) or "", m.group(2), m.group(3)
        if lang == "python" and "no-run" not in info:
            out.append((text.count("\n", 0, m.start()) + 1, body))
    return out


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def test_pages_have_code():
    assert len(PAGES) >= 8, f"expected README.md and the guides in {ROOT / 'docs'}"
    for page in PAGES:
        if page.name != "architecture.md":
            assert code_blocks(page), f"{page.name} has no runnable python block"


@pytest.mark.parametrize("path", [p for p in REFERENCE if p.exists()], ids=_ids([p for p in REFERENCE if p.exists()]))
def test_reference_pages_carry_no_dates_or_diary(path):
    """Reference pages say what is true now: no calendar dates, no session narrative (history lives in git)."""
    text = path.read_text()
    dates = re.findall(r"\b20\d\d-\d\d-\d\d\b", text)
    assert not dates, f"{path.name} carries calendar dates {dates[:3]}"
    diary = re.findall(r"[^\n]*\b(?:this session|second session|third session|issue \d+)\b[^\n]*", text, re.I)
    assert not diary, f"{path.name} reads as a log: {diary[:2]}"


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_guides_are_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"


@pytest.mark.statistical
@pytest.mark.parametrize("path", PAGES, ids=_ids(PAGES))
def test_guide_runs_as_written(path, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"guide_{path.stem}"}
    for line, source in code_blocks(path):
        try:
            exec(compile(source, f"{path.name}:{line}", "exec"), namespace)
        except Exception as err:  # name the block: the traceback's file is the page and its line
            raise AssertionError(f"{path.name}, the python block at line {line} failed: {err!r}") from err
        finally:
            plt.close("all")
