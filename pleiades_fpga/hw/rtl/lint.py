"""Static checks of the RTL: Verilator lint (``--lint-only -Wall``) and Yosys synthesis without latches.

Used by tests/test_rtl_lint.py over every template and by the generator on its output.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.rtl import TEMPLATES_DIR
from pleiades_fpga.toolflow.locate import tool_env, verilator_cmd, yosys_cmd

LATCH_CELLS = ("$dlatch", "$adlatch", "$dlatchsr", "$_DLATCH_*", "$_DLATCHSR_*", "$_DLATCH_*_*")


@dataclass
class LintReport:
    """Verilator lint outcome: ``ok`` when it printed no warning or error."""

    ok: bool
    messages: list[str]
    command: list[str]


@dataclass
class SynthReport:
    """Yosys synthesis outcome: latch count and cell counts of the flattened top."""

    latches: int
    cells: dict[str, int] = field(default_factory=dict)
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.latches == 0


def template_files() -> list[Path]:
    """All template files ``templates/*.v`` (one module per file, named like the file)."""
    return sorted(TEMPLATES_DIR.glob("*.v"))


def template_sources(module: str, search_dir: Path = TEMPLATES_DIR) -> list[Path]:
    """``<module>.v`` plus every template it instantiates (recursively), dependencies first."""
    known = {p.stem: p for p in search_dir.glob("*.v")}
    if module not in known:
        raise PleiadesError(f"no template {module!r} in {search_dir}; known: {', '.join(sorted(known))}")
    order: list[Path] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        path = known[name]
        if path in order:
            return
        text = re.sub(r"//[^\n]*|/\*.*?\*/", "", path.read_text(), flags=re.S)
        for dep in sorted(known):
            if dep != name and dep not in stack and re.search(rf"^\s*{re.escape(dep)}\s*(#|\w+\s*\()", text, re.M):
                visit(dep, (*stack, name))
        order.append(path)

    visit(module, ())
    return order


def verilator_lint(top: str, sources: Sequence[Path], parameters: Mapping[str, object] | None = None,
                   extra_args: Sequence[str] = ()) -> LintReport:
    """Run ``verilator --lint-only -Wall`` on ``sources`` with ``top`` and parameter overrides."""
    cmd = verilator_cmd() + ["--lint-only", "-Wall", "--top-module", top, *extra_args]
    cmd += [f"-G{k}={v}" for k, v in (parameters or {}).items()]
    cmd += [str(s) for s in sources]
    env = {**os.environ, **tool_env("verilator")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    text = (out.stdout + out.stderr).splitlines()
    msgs = [line for line in text if line.startswith("%Warning") or line.startswith("%Error")]
    return LintReport(ok=out.returncode == 0 and not msgs, messages=msgs, command=cmd)


def icarus_elaborate(top: str, sources: Sequence[Path], parameters: Mapping[str, object] | None = None) -> LintReport:
    """Elaborate ``top`` with Icarus Verilog (``iverilog -g2012``, parameter overrides by ``-P``), no simulation."""
    with tempfile.TemporaryDirectory(prefix="pleiades_iverilog_") as tmp:
        cmd = ["iverilog", "-g2012", "-o", str(Path(tmp) / "a.out"), "-s", top]
        cmd += [f"-P{top}.{k}={v}" for k, v in (parameters or {}).items()]
        out = subprocess.run(cmd + [str(s) for s in sources], capture_output=True, text=True)
    msgs = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    return LintReport(ok=out.returncode == 0, messages=msgs, command=cmd)


def yosys_synth(top: str, sources: Sequence[Path], parameters: Mapping[str, object] | None = None,
                target: str = "generic", timeout: float = 900.0) -> SynthReport:
    """Run Yosys on ``top`` and count latches and cells.

    ``target``: ``"prep"`` (elaboration + ``proc``, where latches are inferred; fast, coarse cells),
    ``"generic"`` (``synth -flatten``) or ``"ecp5"`` (``synth_ecp5``).
    """
    flows = {"prep": f"prep -top {top} -flatten", "generic": f"synth -top {top} -flatten",
             "ecp5": f"synth_ecp5 -top {top}"}
    if target not in flows:
        raise PleiadesError(f"unknown synthesis target {target!r}; use one of {', '.join(flows)}")
    sets = " ".join(f"-set {k} {int(v)}" for k, v in (parameters or {}).items())
    synth = flows[target]
    with tempfile.TemporaryDirectory(prefix="pleiades_yosys_") as tmp:
        stat = Path(tmp) / "stat.txt"
        latch = Path(tmp) / "latch.txt"
        # YoWASP Yosys may not see every host directory (e.g. /tmp): copy the sources next to the script
        names = []
        for i, src in enumerate(sources):
            name = f"src{i}_{Path(src).name}"
            shutil.copyfile(src, Path(tmp) / name)
            names.append(name)
        script = "\n".join([
            *(f"read_verilog -sv {n}" for n in names),
            *([f"chparam {sets} {top}"] if sets else []),
            synth,
            f"tee -q -o {latch.name} select -count " + " ".join(f"t:{c}" for c in LATCH_CELLS),
            f"tee -q -o {stat.name} stat",
        ]) + "\n"
        ys = Path(tmp) / "run.ys"
        ys.write_text(script)
        out = subprocess.run(yosys_cmd() + ["-q", "-s", ys.name], capture_output=True, text=True, timeout=timeout,
                             cwd=tmp)
        log = out.stdout + out.stderr
        if out.returncode != 0:
            raise PleiadesError(f"yosys failed on {top} ({target}):\n{log[-4000:]}")
        m = re.search(r"(\d+)\s+objects", latch.read_text())
        n_latch = int(m.group(1)) if m else 0
        cells: dict[str, int] = {}
        for line in stat.read_text().splitlines():
            mm = re.match(r"^\s+(\d+)\s+(\$?[A-Za-z_][\w$]*)\s*$", line) or re.match(r"^\s+(\$?[A-Za-z_][\w$]*)\s+(\d+)\s*$", line)
            if mm:
                a, b = mm.groups()
                name, cnt = (b, int(a)) if a.isdigit() else (a, int(b))
                cells[name] = cells.get(name, 0) + cnt
        return SynthReport(latches=n_latch, cells=cells, log=log)


__all__ = ["LintReport", "SynthReport", "icarus_elaborate", "template_files", "template_sources", "verilator_lint",
           "yosys_synth"]
