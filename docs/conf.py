"""Sphinx configuration: the user guide (Markdown, via MyST), the API
reference (numpydoc docstrings) and the example gallery (sphinx-gallery).

Build with ``python docs/build.py``: it copies ``docs/`` and ``examples/``
into a build folder and runs Sphinx there, because sphinx-gallery
(``auto_examples/``) and autosummary (``generated/``) write their pages next
to the sources they are given. Running Sphinx on ``docs/`` itself would
write them into the checkout, so this file refuses to.
"""
import os
import sys

from sphinx.errors import ConfigError

HERE = os.path.dirname(os.path.abspath(__file__))
if not os.path.exists(os.path.join(HERE, ".build-copy")):
    message = ("Build the documentation with `python docs/build.py`: it runs "
               "Sphinx on a copy of docs/ and examples/, so that the generated "
               "pages stay out of the source tree.")
    print(message, file=sys.stderr)  # Sphinx buries the error in a traceback
    raise ConfigError(message)
sys.path.insert(0, HERE)  # gallery_order

project = "sktune"
author = "sktune developers"
copyright = "sktune developers"
release = "0.1.0"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["dollarmath"]
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# GitHub-style links between pages and to repository files are kept as text
# scikit-learn docstrings inherited by score() refer to labels of its own site
suppress_warnings = ["myst.xref_missing", "ref.ref", "ref.term"]

# -- HTML: scikit-learn's theme -------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sktune {release}"
html_theme_options = {
    "header_links_before_dropdown": 5,
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False

# -- the example gallery ----------------------------------------------------
# Every examples/plot_*.py runs during the build and its figures go into
# its page; quickstart.py is shown without being run (it only prints).
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery_order.GalleryOrder",
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "default_thumb_file": None,
}

# -- copy buttons: leave prompts and output out of the copied text ----------
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
