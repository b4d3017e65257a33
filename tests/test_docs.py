"""The documentation site builds with ``docs/build.py`` (Sphinx, warnings
treated as errors), gallery included, and leaves the source tree alone."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GALLERY = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))


def source_tree_state():
    """Untracked and modified files under docs/ and examples/, per git."""
    out = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--ignored",
         "--", "docs", "examples"],
        capture_output=True, text=True, cwd=ROOT)
    return out.stdout if out.returncode == 0 else None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site once: ``(build folder, source state before, after)``."""
    out_dir = tmp_path_factory.mktemp("docs")
    before = source_tree_state()
    out = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build.py"), "--out", str(out_dir), "-q"],
        capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, (out.stdout[-2000:] + out.stderr[-4000:])
    return out_dir / "html", before, source_tree_state()


def test_docs_build(site):
    html, before, after = site

    # the API pages, with the parameters named
    page = (html / "generated" / "sktune.MLPRegressor.html").read_text()
    assert "hidden_layer_sizes" in page and "dropout" in page
    assert (html / "optimizers.html").exists()
    assert (html / "changelog.html").exists()

    # the guide links to the API pages
    index = (html / "index.html").read_text()
    assert 'href="generated/sktune.MLPRegressor.html' in index

    # the gallery: every plot_ example ran and has a figure in its page
    assert (html / "auto_examples" / "index.html").exists()
    for name in GALLERY:
        example = (html / "auto_examples" / f"{name}.html").read_text()
        assert re.search(rf'src="[^"]*sphx_glr_{name}_001\.png"', example), name
    # the plotting page shows figures
    plotting = (html / "plotting.html").read_text()
    assert re.search(r'<img[^>]+sphx_glr_plot_displays_00[12]', plotting)

    # the theme and the copy buttons
    assert "pydata-sphinx-theme" in index or "pydata_sphinx_theme" in index
    assert (html / "_static" / "copybutton.js").exists()

    # nothing was written into the checkout
    assert after == before


def test_api_page_shows_parameter_descriptions(site):
    """A parameter's description, not only its name, is on the API page.

    ``batch_size`` is described in ``sktune.base.SHARED_PARAMS_DOC``
    ("Samples per update ..."); the estimators' docstrings must carry it.
    """
    html = site[0]
    page = (html / "generated" / "sktune.MLPRegressor.html").read_text()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))
    assert "Samples per update" in text
