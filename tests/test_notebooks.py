"""Every notebook in notebooks/ runs top to bottom at small settings (statistical tier), and its saved copy
shows plots (fast).

The kernel gets BAYESCALE_FAST=1 (each notebook shrinks its draws and curves),
the CPU backend, a headless matplotlib, and the repository root first on its
PYTHONPATH so it imports this checkout's bayescale. Notebooks added later are
picked up by the glob.
"""

import base64
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT = 600  # seconds per cell; at BAYESCALE_FAST=1 a whole notebook takes well under a minute alone


def _ids(paths):
    return [p.name for p in paths]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2, f"expected the notebooks in {ROOT / 'notebooks'}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_saved_notebook_shows_its_plots(path):
    """The repository copy is saved with outputs, at least one a PNG image, and no errors."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), f"{path.name}: run it before saving"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name} was saved with an error"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} has no plot among its saved outputs"
    assert len(base64.b64decode(images[0]["data"]["image/png"])) > 1000
    # CI runs it with BAYESCALE_FAST=1; a notebook that ignores it would run at full size there
    assert any("BAYESCALE_FAST" in c.source for c in code), f"{path.name} does not read BAYESCALE_FAST"


@pytest.mark.statistical
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes(path, monkeypatch):
    from nbclient import NotebookClient

    # the kernel inherits this process's environment
    monkeypatch.setenv("BAYESCALE_FAST", "1")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on the first failure
