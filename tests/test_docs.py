"""The documentation site builds with Sphinx, warnings treated as errors."""
import os
import subprocess
import sys

DOCS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "docs")


def test_sphinx_build_has_no_warnings(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), DOCS, str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    html = (tmp_path / "html" / "generated" / "sktune.MLPRegressor.html").read_text()
    assert "hidden_layer_sizes" in html and "dropout" in html
    assert (tmp_path / "html" / "optimizers.html").exists()
