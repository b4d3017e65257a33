"""A dependency-free progress bar that knows when it runs in a notebook.

In Jupyter it redraws one output area in place (``IPython.display`` with a
display id, no widgets needed); elsewhere it rewrites one line of stderr
with a carriage return.
"""
import sys
import time


def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class ProgressBar:
    """Progress over a known number of steps (epochs).

    Parameters
    ----------
    total : int
        Number of steps.
    desc : str
        Label shown before the bar.
    stream : file-like, default=None
        Where the terminal bar goes (stderr when None).
    width : int, default=30
        Characters of the bar itself.
    """

    def __init__(self, total, desc, stream=None, width=30):
        self.total = max(int(total), 1)
        self.desc = desc
        self.width = width
        self.stream = sys.stderr if stream is None else stream
        self.started = time.perf_counter()
        self._handle = None
        if stream is None and _in_notebook():
            from IPython.display import display

            self._handle = display(self._text(0, ""), display_id=True)

    def _text(self, done, info):
        filled = int(self.width * min(done, self.total) / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.perf_counter() - self.started
        return f"{self.desc} [{bar}] {done}/{self.total} {info} ({elapsed:.1f} s)"

    def update(self, done, info=""):
        """Show ``done`` steps finished, with a short ``info`` string."""
        text = self._text(done, info)
        if self._handle is not None:
            self._handle.update(text)
        else:
            self.stream.write("\r" + text)
            self.stream.flush()

    def close(self, done=None, info=""):
        """Draw the final state and end the line."""
        if done is not None:
            self.update(done, info)
        if self._handle is None:
            self.stream.write("\n")
            self.stream.flush()
