"""The FINN environment: an isolated venv (``.venv-finn``) with FINN+ (PyPI ``finn-plus``) for the worker.

FINN+ 1.6.1 pins brevitas==0.13.0 (whose setuptools<70 pin conflicts with torch 2.13 / setuptools>=77 of the
main environment) and exact onnx/onnxruntime/protobuf versions. So it lives in its own venv: ``finn-plus`` is
installed with ``--no-deps`` plus the dependencies its QONNX->FINN transformations, HW layers and analytic
estimates really import (``FINN_DEPENDENCIES``, at FINN's own pins). Left out: brevitas (export happens in the
main environment), cmake/pybind11 (C++ simulation builds), and the builder's Vivado/XSI parts. torch, which
``finn.custom_op.fpgadataflow`` imports (its LayerNorm op), is taken from the main venv through a ``.pth``
fallback appended after the FINN venv's own site-packages (FINN's pinned packages win; nothing is downloaded
twice). Create it with ``make finn-env`` or ``python -m pleiades_fpga.hw.finn_backend.env`` (~1 minute).

Where it is looked for: ``$PLEIADES_FINN_PYTHON`` (a Python executable), else ``$PLEIADES_FINN_ENV/bin/python``,
else ``<repository>/.venv-finn/bin/python``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from pleiades_fpga.errors import BackendNotInstalledError
from pleiades_fpga.toolflow import side_env

FINN_PACKAGE = "finn-plus==1.6.1"
FINN_DEPENDENCIES = (
    "qonnx==1.0.0", "onnx==1.21.0", "onnxruntime==1.25.1", "protobuf==5.29.6", "numpy>=2.4.6,<2.5",
    "scipy>=1.17,<1.18", "rich>=13.9.4,<14", "pyyaml>=6.0.2,<6.1", "bitstring>=4.3.1,<4.4",
    "mashumaro[yaml]>=3.15,<4", "pydantic>2", "onnxscript>=0.7", "onnx-ir>=0.1.15", "termcolor>=2.5,<3",
    "click>=8.1.8,<9", "jinja2>=3",
)
STAMP = ".pleiades-finn-env"
CHECK = ("from finn.util.settings import initialize_dummy_settings; initialize_dummy_settings(); "
         "import finn.custom_op.fpgadataflow, finn.transformation.qonnx.convert_qonnx_to_finn")


def default_env_dir() -> Path:
    """``$PLEIADES_FINN_ENV`` or ``<repository>/.venv-finn``."""
    return side_env.env_dir("PLEIADES_FINN_ENV", ".venv-finn")


def finn_python() -> Path:
    """The FINN environment's Python, or BackendNotInstalledError saying how to create it."""
    return side_env.env_python(
        "PLEIADES_FINN_ENV", "PLEIADES_FINN_PYTHON", ".venv-finn",
        f"FINN is not installed: no FINN environment at {{exe}}. Create it with `make finn-env` "
        f"(or `{Path(sys.executable).name} -m pleiades_fpga.hw.finn_backend.env`; about a minute, needs PyPI), "
        "or point PLEIADES_FINN_ENV / PLEIADES_FINN_PYTHON at an existing FINN+ installation. See docs/FINN.md.")


def check_env(exe: Path | None = None, timeout: float = 300.0) -> Path:
    """``finn_python()`` after checking that FINN's transformations import there; raise a clear error if not."""
    exe = exe or finn_python()
    res = subprocess.run([str(exe), "-c", CHECK], capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise BackendNotInstalledError(
            f"the FINN environment {exe} is broken: importing FINN failed with `{tail[0]}`. Re-create it with "
            "`make finn-env` (delete .venv-finn first) or see docs/FINN.md.")
    return exe


def create_env(env_dir: Path | None = None, python: str = sys.executable, quiet: bool = False) -> Path:
    """Create (or complete) the FINN venv at ``env_dir``; return its Python. Idempotent (stamp file)."""
    env_dir = Path(env_dir or default_env_dir())
    exe = env_dir / "bin" / "python"
    wanted = "\n".join((FINN_PACKAGE, *FINN_DEPENDENCIES, sysconfig.get_paths()["purelib"]))
    if side_env.is_current(env_dir, STAMP, wanted):
        return exe
    q = ["-q"] if quiet else []
    if not exe.is_file():
        side_env.run_step([python, "-m", "venv", str(env_dir)], "FINN")
    side_env.run_step([str(exe), "-m", "pip", "install", *q, "--upgrade", "pip>=24"], "FINN")
    side_env.run_step([str(exe), "-m", "pip", "install", *q, "--no-deps", FINN_PACKAGE], "FINN")
    side_env.run_step([str(exe), "-m", "pip", "install", *q, *FINN_DEPENDENCIES], "FINN")
    site = subprocess.run([str(exe), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # torch (and nothing FINN pins) from the main environment, searched after the FINN venv's own packages
    (Path(site) / "zz_pleiades_main_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    check_env(exe)
    (env_dir / STAMP).write_text(wanted)
    return exe


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Create the FINN+ environment used by `build --backend finn`.")
    ap.add_argument("--dir", type=Path, default=None, help="venv directory (default: .venv-finn in the repository)")
    ap.add_argument("--check", action="store_true", help="only check an existing environment")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.dir:
        os.environ["PLEIADES_FINN_ENV"] = str(args.dir)
    try:
        exe = check_env() if args.check else create_env(args.dir, quiet=args.quiet)
    except BackendNotInstalledError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"FINN environment OK: {exe}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
