"""Sphinx configuration: the user guide (Markdown, via MyST) and the API
reference (numpydoc docstrings)."""
project = "sktune"
author = "sktune developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["dollarmath"]
exclude_patterns = ["_build"]
autosummary_generate = True
templates_path = ["_templates"]
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
html_theme = "alabaster"
# GitHub-style links between pages and to repository files are kept as text
# scikit-learn docstrings inherited by score() refer to labels of its own site
suppress_warnings = ["myst.xref_missing", "ref.ref", "ref.term"]
