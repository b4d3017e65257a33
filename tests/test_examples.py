"""The examples: the quickstart, the gallery scripts and the tutorial notebook.

The gallery scripts (``examples/plot_*.py``) are executed by the docs build
(``tests/test_docs.py`` runs ``docs/build.py``, which fails when an example
raises), so here they are only checked for the shape sphinx-gallery needs;
they run here only where sphinx-gallery is not installed. The quickstart,
which the docs build shows without running, runs here in a subprocess, the
way the README's main command runs it. The notebook runs in a real Jupyter
kernel (``python3``, the interpreter running the tests).
"""
import ast
import importlib.util
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GALLERY = sorted(p.name for p in EXAMPLES.glob("plot_*.py"))
HAVE_SPHINX_GALLERY = importlib.util.find_spec("sphinx_gallery") is not None


def test_gallery_is_there():
    assert {"plot_displays.py", "plot_gradient_descent_variants.py",
            "plot_learning_rate_schedules.py", "plot_regularization.py",
            "plot_search_comparison.py"} <= set(GALLERY)
    assert (EXAMPLES / "GALLERY_HEADER.rst").exists()


@pytest.mark.parametrize("name", GALLERY + ["quickstart.py"])
def test_sphinx_gallery_format(name):
    """A docstring with an underlined title first, then ``# %%`` cells."""
    source = (EXAMPLES / name).read_text()
    tree = ast.parse(source)
    doc = ast.get_docstring(tree, clean=False)
    assert doc, "an example starts with its docstring"
    lines = doc.strip("\n").splitlines()
    title, underline = lines[0], lines[1]
    assert title.strip() and set(underline) == {"="} and len(underline) >= len(title)
    assert len(doc.split()) > 40, "the docstring says what the example shows"
    if name.startswith("plot_"):
        assert source.count("\n# %%\n") >= 2
        assert "sktune.plot import" in source, "plot with sktune.plot's displays"
        # figures reach the docs through pyplot; nothing is written to disk
        assert "savefig" not in source and "argparse" not in source


@pytest.mark.skipif(HAVE_SPHINX_GALLERY,
                    reason="executed by the docs build (tests/test_docs.py)")
@pytest.mark.parametrize("name", GALLERY)
def test_gallery_example_runs(name, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
        assert plt.get_fignums(), "the example draws a figure"
    finally:
        plt.close("all")


def test_quickstart_runs_without_warnings():
    """The README's main job: six result lines, and no warning on stderr."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    out = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")],
                         capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "Warning" not in out.stderr, out.stderr[-4000:]
    lines = out.stdout.splitlines()
    assert len(lines) == 6, out.stdout
    assert lines[0] == "LinearRegressor on diabetes"
    assert lines[3] == "LinearClassifier on breast cancer"
    r2 = float(lines[2].rsplit(":", 1)[1])
    accuracy = float(lines[5].rsplit(":", 1)[1])
    assert 0.3 < r2 < 1 and 0.9 < accuracy <= 1


def test_tutorial_notebook(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    path = EXAMPLES / "tutorial.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code_cells
    # stored without outputs
    for cell in code_cells:
        assert cell.outputs == [] and cell.execution_count is None
    source = "\n".join(cell.source for cell in code_cells)
    for needed in ("make_pipeline", "GridSearchCV", "cv_results_",
                   "LossCurveDisplay.from_estimator", "SearchDisplay.from_search"):
        assert needed in source

    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError if a cell fails

    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert all(cell.execution_count is not None for cell in code_cells)
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == 2  # the loss curve and the search results
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "best validation R^2" in text and "best mean CV R^2" in text
