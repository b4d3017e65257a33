"""Order of the examples in the gallery (sphinx-gallery's
``within_subsection_order``): the quickstart first, then the plotting
example, then the others by file name."""
import os

FIRST = ["quickstart.py", "plot_displays.py"]


class GalleryOrder:
    def __init__(self, src_dir=None):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = os.path.basename(filename)
        rank = FIRST.index(name) if name in FIRST else len(FIRST)
        return f"{rank:02d}{name}"

    def __repr__(self):
        return "GalleryOrder"
