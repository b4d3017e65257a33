"""Build the documentation site outside the source tree.

    python docs/build.py                 # HTML in build/docs/html/
    python docs/build.py --out DIR       # HTML in DIR/html/
    python docs/build.py --clean         # start from scratch

sphinx-gallery writes the gallery pages (``auto_examples/``) and autosummary
the API stubs (``generated/``) next to the sources Sphinx reads. So this
script copies ``docs/`` and ``examples/`` into ``<out>/src/`` and runs
Sphinx on that copy, with warnings treated as errors. The copy keeps its
generated pages between builds, so a second build only re-runs the examples
that changed. Any other argument is passed on to ``sphinx-build`` (e.g.
``-q`` or ``-j 2``).
"""
import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("docs", "examples")
# made by the build inside the copy of docs/, kept for incremental builds
GENERATED = {"auto_examples", "generated", "sg_execution_times.rst"}
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "_build")


def sync(src, dst, keep=()):
    """Make ``dst`` a copy of ``src``, leaving the entries named in ``keep``.

    Files are copied with their modification times, so Sphinx only re-reads
    the pages that changed since the last build.
    """
    dst.mkdir(parents=True, exist_ok=True)
    for entry in dst.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=IGNORE)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "docs"),
                        help="build folder (default: build/docs); HTML goes to OUT/html")
    parser.add_argument("--builder", "-b", default="html")
    parser.add_argument("--clean", action="store_true",
                        help="delete the build folder first")
    args, sphinx_args = parser.parse_known_args(argv)

    out = Path(args.out).resolve()
    if out == ROOT or ROOT in out.parents and out.parts[len(ROOT.parts)] in SOURCES:
        parser.error(f"--out {out} is inside the sources")
    if args.clean and out.exists():
        shutil.rmtree(out)
    src = out / "src"
    for name in SOURCES:
        sync(ROOT / name, src / name, keep=GENERATED if name == "docs" else ())
    (src / "docs" / ".build-copy").write_text(
        "A copy of docs/ made by docs/build.py; edit the original.\n")

    env = dict(os.environ)
    # document and run the checkout's sktune, whatever else is installed
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", args.builder,
               "-d", str(out / "doctrees"), *sphinx_args,
               str(src / "docs"), str(out / args.builder)]
    result = subprocess.run(command, env=env, cwd=src / "docs")
    if result.returncode == 0:
        print(f"documentation written to {out / args.builder}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
