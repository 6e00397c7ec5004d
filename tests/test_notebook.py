"""The tutorial notebook (docs/tutorial.ipynb) runs from top to bottom in a fresh kernel, and
its outputs say what the text promises: the state, a passing verification, a working kernel."""
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[test]' (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' (nbclient)")
pytest.importorskip("ipykernel", reason="pip install -e '.[test]' (ipykernel)")


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="the notebook draws graphs: apt-get install graphviz")
def test_tutorial_notebook_runs():
    nb = nbformat.read(ROOT / "docs" / "tutorial.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = {}
    for k, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
        outputs[k] = cell.outputs

    def data(k, mime):
        return "".join(o.get("data", {}).get(mime, "") for o in outputs[k])

    def text(k):
        return "".join(o.get("text", "") for o in outputs[k]) + data(k, "text/plain")
    assert r"\begin{aligned}" in data(0, "text/latex")          # the cell, shown as LaTeX
    assert text(1) == "('h',)"                                   # its state
    assert r"\delta" in data(2, "text/latex")                   # the derived backward pass
    assert "read by step t+1's equations" in text(3)
    assert "<svg" in data(4, "image/svg+xml") and "<svg" in data(5, "image/svg+xml")
    assert "Backward pass, t = 3 .. 1" in text(7)
    assert text(8).startswith("('h',) (5, 2, 4)")
