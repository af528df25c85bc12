"""Side virtual environments of tools kept out of the main one (FINN+ in ``.venv-finn``, LiteX/LiteDRAM in
``.venv-litex``): where they are, their Python, and the install steps, shared by their modules."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pleiades_fpga.errors import BackendNotInstalledError

REPO_ROOT = Path(__file__).resolve().parents[2]


def env_dir(dir_var: str, default_name: str) -> Path:
    """``$<dir_var>`` or ``<repository>/<default_name>``."""
    return Path(os.environ.get(dir_var) or REPO_ROOT / default_name)


def env_python(dir_var: str, python_var: str, default_name: str, missing: str) -> Path:
    """The side environment's Python (``$<python_var>`` wins over the directory), or BackendNotInstalledError:
    ``missing`` formatted with ``exe``, saying what is missing and how to create it."""
    explicit = os.environ.get(python_var)
    exe = Path(explicit) if explicit else env_dir(dir_var, default_name) / "bin" / "python"
    if not exe.is_file():
        raise BackendNotInstalledError(missing.format(exe=exe))
    return exe


def is_current(directory: Path, stamp: str, wanted: str) -> bool:
    """True when the environment at ``directory`` has its Python and its stamp lists exactly ``wanted``."""
    path = directory / stamp
    return path.is_file() and path.read_text() == wanted and (directory / "bin" / "python").is_file()


def run_step(cmd: list[str], what: str) -> None:
    """One install step, echoed; a failure is BackendNotInstalledError naming the step."""
    print("+", " ".join(cmd), flush=True)
    res = subprocess.run(cmd)
    if res.returncode != 0:
        raise BackendNotInstalledError(f"creating the {what} environment failed at `{' '.join(cmd)}` "
                                       f"(exit {res.returncode}); see the pip output above (PyPI needed)")
