"""Bar (issues 5 and 16): the default demo net fits LFE5U-85F, places and routes with nextpnr fmax >= 100 MHz,
and the ULX3S board wrapper runs it at a clock nextpnr closes (EHXPLLL from the 25 MHz oscillator); frames/s at
that clock; the analytic estimate vs Yosys synthesis of the whole network (LUT within 25 %, DSP and block-RAM
bits within 10 %).

Runs ``pleiades-fpga build build/demo/model.onnx --backend rtl --out build/ulx3s --folding build/demo/folding.json``
(the demo's folding: 128 multipliers) and ``pleiades-fpga synth build/ulx3s --target ulx3s-85f --clock-mhz
CLOCK_MHZ --pnr-seeds PNR_SEEDS`` (board wrapper with the PLL -> Yosys synth_ecp5 -> nextpnr-ecp5 with seeds 1..PNR_SEEDS in
parallel, the highest fmax kept and every seed's fmax reported -> ecppack) unless build/ulx3s
already holds a report of that design at that clock (then its numbers are collected). Needs build/demo
(``make demo``). Writes bench/results/board_ulx3s.json. About 30-60 min on 2 free cores (hours when they are shared).

``--layers`` (diagnosis, minutes per layer): every layer wrapper of the demo (``L<i>_<name>``, with its ROMs) placed
and routed alone on LFE5U-85F at LAYER_MHZ in a board-like wrapper with registered I/O (stream data shifted in from
one pin, the output beat registered and reduced to one pin, a registered reset): its nextpnr fmax and critical
path, under ``layers`` in the result (the whole-design figures are kept). What a layer reaches alone bounds what
it reaches in the whole design, where placement spreads it further. ``--layers --only NAME[,NAME...]`` places and
routes only the named layers (e.g. ``blocks.1.temporal``): their rows are replaced, each row names the commit it was
measured at, and a replaced row's fmax and commit move to its ``before``.
"""
from __future__ import annotations

import filecmp
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.common import write_result
from bench.estimate_vs_synth import BARS

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "build" / "demo"
MODEL = DEMO / "model.onnx"
OUT = ROOT / "build" / "ulx3s"
PART = "LFE5U-85F"          # the build's target: its MAC lanes get MULT18X18D cells with their registers (mac_lane)
CLOCK_MHZ = 100.0           # board clock asked of the PLL (the bar: fmax >= 100 MHz, timing met there)
FMAX_BAR_MHZ = 100.0
PNR_SEEDS = 2               # nextpnr seeds 1..2 in parallel (one per core); the higher fmax is kept, both reported
BEFORE = {"commit": "e5591d1", "fmax_mhz": 37.98, "board_clock_mhz": 25.0, "frames_per_second_at_board_clock": 1627.6,
          "frames_per_second_at_fmax": 2472.6}   # bench/results/board_ulx3s.json of that commit
KEYS = ("lut", "ff", "dsp", "bram_bits")
_PATH = re.compile(r"Critical path report for clock '([^']+)'[^\n]*\n(.*?ns logic, [0-9.]+ ns routing)", re.S)


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pleiades_fpga.cli", *args], check=True, cwd=ROOT)


def _same_model() -> bool:
    """build/ulx3s is of this model, generated for the ECP5 part (manifest multiplier_cell)."""
    if not ((OUT / "model.onnx").is_file() and filecmp.cmp(MODEL, OUT / "model.onnx", shallow=False)):
        return False
    manifest = OUT / "manifest.json"
    return manifest.is_file() and json.loads(manifest.read_text()).get("multiplier_cell") == "ecp5"


def _current_report() -> dict | None:
    """build/ulx3s/report.json when it is of this model's design at CLOCK_MHZ, else None."""
    from pleiades_fpga.artifacts import design_hash

    path = OUT / "report.json"
    if not (path.is_file() and _same_model()):
        return None
    rep = json.loads(path.read_text())
    clock = rep.get("board_clock_mhz")
    if rep.get("design_hash") != design_hash(OUT) or clock is None or abs(clock - CLOCK_MHZ) > 0.01 * CLOCK_MHZ:
        return None
    return rep


def critical_path(log: Path) -> dict | None:
    """nextpnr's last (post-route) critical path of a clock in its log: clock, first source, last sink, the
    logic/routing split."""
    if not log.is_file():
        return None
    found = _PATH.findall(log.read_text(errors="replace"))
    if not found:
        return None
    clock, body = found[-1]
    sources = re.findall(r"Source (\S+)", body)
    sinks = re.findall(r"Sink (\S+)", body)
    split = re.search(r"([0-9.]+) ns logic, ([0-9.]+) ns routing", body)
    return {"clock": clock, "from": sources[0] if sources else None, "to": sinks[-1] if sinks else None,
            "logic_ns": float(split.group(1)) if split else None,
            "routing_ns": float(split.group(2)) if split else None}


LAYER_MHZ = 100.0             # clock constraint of the per-layer runs (--layers)
_PORT = re.compile(r"(input|output)\s+wire\s+\[(\d+):0\]\s+(s|m)_axis_tdata\b")


def layer_top(module: str, in_w: int, out_w: int) -> str:
    """Board-like wrapper of one layer wrapper: its pins are the ULX3S LPF's (clock, button, UART, LEDs), every
    layer port comes from or goes to a register."""
    return f"""`default_nettype none
module layer_top (input wire clk_25mhz, input wire btn_fire1, input wire ftdi_txd, output reg ftdi_rxd,
                  output reg [7:0] led);
    reg [2:0] rst_sync = 3'b111;
    reg [{in_w + 2}:0] sh;                      // stream data, tvalid, tlast, m_axis_tready shifted in from one pin
    reg [{out_w - 1}:0] od_reg;
    always @(posedge clk_25mhz) begin
        rst_sync <= {{rst_sync[1:0], btn_fire1}};
        sh <= {{sh[{in_w + 1}:0], ftdi_txd}};
    end
    wire [{out_w - 1}:0] od;
    wire ov, ol, itr;
    {module} u_layer (.clk(clk_25mhz), .rst(rst_sync[2]), .s_axis_tdata(sh[{in_w - 1}:0]), .s_axis_tvalid(sh[{in_w}]),
        .s_axis_tready(itr), .s_axis_tlast(sh[{in_w + 1}]), .m_axis_tdata(od), .m_axis_tvalid(ov),
        .m_axis_tready(sh[{in_w + 2}]), .m_axis_tlast(ol));
    always @(posedge clk_25mhz) begin
        od_reg <= od;
        ftdi_rxd <= ^od_reg;
        led <= {{5'd0, itr, ol, ov}};
    end
endmodule
`default_nettype wire
"""


def layer_fmax(build: Path, out: Path, mhz: float = LAYER_MHZ, jobs: int = 2, done=None,
               only: set[str] | None = None) -> list[dict]:
    """Place and route every single-stream layer wrapper of ``build`` alone (see the module docstring), ``jobs`` at
    a time, the layers with the most multipliers first; the rows (layer module, fmax, critical path) in manifest
    order. ``done(rows)`` is called after each layer (partial results). Layers with two input streams (add) are
    skipped, named with the reason. ``only``: just these layer names (an unknown name is an error)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm import tqdm

    from pleiades_fpga.report.report import load_manifest
    from pleiades_fpga.toolflow.boards import BOARDS_DIR
    from pleiades_fpga.toolflow.parts import get_part
    from pleiades_fpga.toolflow.pnr import run_nextpnr
    from pleiades_fpga.toolflow.synth import run_synth

    part = get_part(PART)
    manifest = load_manifest(build)
    sources = [build / f for f in manifest["rtl_files"] if Path(f).name != f"{manifest['top']}.v"]
    lpf = (BOARDS_DIR / "ulx3s_85f.lpf").read_text().replace('FREQUENCY PORT "clk_25mhz" 25 MHZ',
                                                              f'FREQUENCY PORT "clk_25mhz" {mhz:g} MHZ')

    def one(layer: dict) -> dict:
        module = layer["instance"].removeprefix("u_")         # the generated layer wrapper L<i>_<name>
        widths = {io: int(msb) + 1 for _, msb, io in _PORT.findall((build / "rtl" / f"{module}.v").read_text())}
        if set(widths) != {"s", "m"}:
            return {"layer": layer["name"], "module": module, "skipped": "not one input and one output stream"}
        work = out / module
        work.mkdir(parents=True, exist_ok=True)
        (work / "layer_top.v").write_text(layer_top(module, widths["s"], widths["m"]))
        (work / "layer.lpf").write_text(lpf)
        syn = run_synth([*sources, work / "layer_top.v"], "layer_top", part, work / "synth", progress=False)
        pnr = run_nextpnr(syn.netlist, work / "layer.lpf", part, work / "pnr", freq_mhz=mhz, progress=False)
        return {"layer": layer["name"], "module": module, "template": layer.get("module"), "kind": layer.get("kind"),
                "multipliers": layer.get("multipliers"), "fmax_mhz": pnr.fmax_mhz,
                "fmax_source": "place-and-route (nextpnr, layer alone)", "constraint_mhz": mhz,
                "resources_placed": pnr.resources, "critical_path": critical_path(Path(pnr.log))}

    layers = [e for e in manifest["layers"] if str(e.get("instance", "")).startswith("u_L")]
    if only is not None:
        unknown = only - {e["name"] for e in layers}
        if unknown:
            raise SystemExit(f"--only: no layer named {', '.join(sorted(unknown))} in {build} "
                             f"(layers: {', '.join(e['name'] for e in layers)})")
        layers = [e for e in layers if e["name"] in only]
    order = {e["name"]: i for i, e in enumerate(layers)}
    rows: list[dict] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, e) for e in sorted(layers, key=lambda e: -int(e.get("multipliers") or 0))]
        for fut in tqdm(as_completed(futures), total=len(futures), desc="layers", unit="layer"):
            rows = sorted([*rows, fut.result()], key=lambda r: order[r["layer"]])
            if done is not None:
                done(rows)
    return rows


def main() -> dict:
    if "--layers" in sys.argv[1:]:
        return main_layers()
    if not MODEL.is_file():
        raise SystemExit(f"{MODEL} is missing: run `make demo` first")
    rep = _current_report()
    reused, seconds = rep is not None, None
    if rep is None:
        start = time.time()
        if not ((OUT / "manifest.json").is_file() and _same_model()):
            from pleiades_fpga.hw.build import build_rtl

            build_rtl(MODEL, OUT, folding=DEMO / "folding.json", part=PART)   # no --target: synth runs below
        _cli("synth", str(OUT), "--target", "ulx3s-85f", "--clock-mhz", f"{CLOCK_MHZ:g}", "--pnr-seeds", str(PNR_SEEDS))
        seconds = time.time() - start
        rep = json.loads((OUT / "report.json").read_text())
    est = rep.get("estimate") or {}
    syn = (rep.get("synth") or {}).get("utilization") or {}
    ratio = rep.get("estimate_over_synth") or {}
    pnr = rep.get("pnr") or {}
    fmax, clock = rep.get("fmax_mhz"), rep.get("board_clock_mhz")
    cycles = rep.get("cycles_per_frame")
    fps = clock * 1e6 / cycles if clock and cycles else None
    bars = {
        "fits": bool(rep.get("fits")),
        "placed_and_routed": fmax is not None and rep.get("fmax_source") == "place-and-route",
        f"fmax_at_least_{FMAX_BAR_MHZ:g}mhz": fmax is not None and fmax >= FMAX_BAR_MHZ,
        "timing_met_at_board_clock": bool(rep.get("timing_met_at_board_clock")),
        "realtime_at_board_clock": fps is not None and fps >= (rep.get("required_fps") or 0),
        **{f"{key}_within_{round(bar * 100)}pct": ratio.get(key) is not None and abs(ratio[key] - 1) <= bar
           for key, bar in BARS.items()},
    }
    from bench.fmax_model import git_commit, templates_differing

    differing = templates_differing(OUT)
    result = {
        "model": str(MODEL), "build": str(OUT), "reused_existing_build": reused, "build_seconds": seconds,
        "commit": git_commit(), "templates_as_checkout": not differing, "templates_differing": differing or None,
        "target": rep.get("target"),
        "fmax_mhz": fmax, "fmax_source": rep.get("fmax_source"), "fmax_by_clock": pnr.get("fmax_by_clock"),
        "board_clock_mhz": clock, "board_clock_source": "EHXPLLL from the 25 MHz oscillator (ecppll dividers)"
        if clock and abs(clock - 25.0) > 1e-6 else "25 MHz oscillator",
        "timing_met_at_board_clock": rep.get("timing_met_at_board_clock"),
        "cycles_per_frame": cycles, "latency_cycles": rep.get("latency_cycles"),
        "latency_source": rep.get("latency_source"),
        "frames_per_second_at_board_clock": fps, "frames_per_second_at_fmax": rep.get("frames_per_second"),
        # the rate the board delivers timing-clean: at the wrapper's clock when timing is met there, else none
        # until the wrapper is rebuilt with a PLL clock <= fmax (pleiades-fpga synth ... --clock-mhz F)
        "frames_per_second_timing_met": fps if rep.get("timing_met_at_board_clock") else None,
        "required_fps": rep.get("required_fps"),
        "critical_path": critical_path(Path(pnr["log"])) if pnr.get("log") else None,
        "resources_synth": {k: syn.get(k) for k in KEYS}, "resources_estimate": {k: est.get(k) for k in KEYS},
        "board_resources_placed": rep.get("board_resources"), "utilization_percent": rep.get("utilization_percent"),
        "verdict": rep.get("verdict"), "estimate_over_synth": ratio, "before": BEFORE,
        "speedup_frames_per_second": fps / BEFORE["frames_per_second_at_board_clock"]
        if fps and rep.get("timing_met_at_board_clock") else None,
        "fmax_by_seed": (pnr.get("seeds") or {}).get("fmax_by_seed"),
        "pnr": pnr, "bitstream": pnr.get("bitstream"), "bar": bars,
    }
    previous = ROOT / "bench" / "results" / "board_ulx3s.json"
    if previous.is_file() and "layers" in (kept := json.loads(previous.read_text())):
        result["layers"] = kept["layers"]          # from --layers (its own commit and date)
    write_result("board_ulx3s", result)
    return result


def main_layers() -> dict:
    """``--layers [--only NAME,...]``: build the demo with the current templates into build/ulx3s_layers, place and
    route its layers (or the named ones) one by one, and add them to bench/results/board_ulx3s.json (its other
    fields unchanged)."""
    from bench.fmax_model import git_commit
    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.report.report import load_manifest

    args = sys.argv[1:]
    only = None
    if "--only" in args:
        at = args.index("--only") + 1
        if at >= len(args):
            raise SystemExit("--only needs layer names, e.g. --only blocks.1.temporal,blocks.3.spatial")
        only = {n for n in args[at].split(",") if n}
    commit = git_commit()          # the templates the layers are built from
    build = ROOT / "build" / "ulx3s_layers"
    build_rtl(MODEL, build, folding=DEMO / "folding.json", part=PART)
    path = ROOT / "bench" / "results" / "board_ulx3s.json"
    result = json.loads(path.read_text()) if path.is_file() else {}
    result.pop("benchmark", None), result.pop("machine", None)
    if "date" in result:           # the whole-design run keeps its own date
        result.setdefault("whole_design_date", result.pop("date"))
    previous = result.get("layers", {})
    old_rows = {r["layer"]: {"commit": previous.get("commit"), **r} for r in previous.get("rows", [])}
    names = [e["name"] for e in load_manifest(build)["layers"] if str(e.get("instance", "")).startswith("u_L")]

    def save(rows: list[dict]) -> None:          # after every layer: an interrupted run keeps what it measured
        new = {r["layer"]: {"commit": commit, **r} for r in rows}
        for name, row in new.items():
            old = old_rows.get(name)
            if only is not None and old is not None and "fmax_mhz" in old:
                row["before"] = {"commit": old["commit"], "fmax_mhz": old["fmax_mhz"],
                                 "critical_path": old.get("critical_path")}
        merged = [new.get(n) or old_rows[n] for n in names if n in new or (only is not None and n in old_rows)]
        result["layers"] = {"constraint_mhz": LAYER_MHZ,
                            "commit": commit if only is None else "per row",
                            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "complete": len(merged) == len(names), "rows": merged}
        write_result("board_ulx3s", result)

    layer_fmax(build, build / "layers", jobs=1 if only is not None else 2, done=save, only=only)
    return result


if __name__ == "__main__":
    main()
