"""``pleiades-fpga build model.onnx --backend finn --out build/NAME``: FINN for the per-frame parts, our RTL for the rest.

Writes, besides what the RTL backend writes (``rtl/``, ``manifest.json``, ``folding.json``: the complete
pleiades design, whose temporal layer modules the split design uses):

- ``finn/segments/segN.onnx``: the per-frame QONNX graphs cut out of the model (``split.py``);
- ``finn/segN/``: FINN's intermediate models (``finn_onnx.onnx``, ``streamlined.onnx``, ``hw_layers.onnx``,
  ``dataflow.onnx``), ``folding_config.json`` and its three estimate reports for that segment;
- ``finn/estimate_layer_resources.json``, ``finn/estimate_layer_cycles.json``,
  ``finn/estimate_network_performance.json``: FINN's reports of all segments (node keys ``segN/NODE``);
- ``finn/split.json``: which layer is implemented by whom and how the streams connect;
- ``finn/comparison.json``: per segment FINN's estimate vs our estimator (LUT, DSP, BRAM18, cycles/frame) and
  FINN's Python execution of the segment (after ConvertQONNXtoFINN, after streamlining, as HW layers) vs the
  golden model: mismatching integers per stage, ``exact`` when the streamlined and HW-layer graphs have none.

FINN is folded for the same throughput as our design (``SetFolding`` with our slowest layer's cycles per frame).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pleiades_fpga.artifacts import write_json_atomic, write_npz_atomic
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.finn_backend.env import check_env
from pleiades_fpga.hw.finn_backend.split import Segment, split_summary, write_segments
from pleiades_fpga.ir.graph import IRGraph

DEFAULT_PART = "xc7z020"
FINN_REPORTS = ("estimate_layer_resources.json", "estimate_layer_cycles.json", "estimate_network_performance.json")
WORKER = Path(__file__).with_name("worker.py")


def segment_test_data(ir: IRGraph, segments: list[Segment], frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Golden-model integers at every segment input and output for ``frames`` frames of a random clip.

    Keys ``segN/inK`` (the worker's inputs) and ``segN/outK`` (expected), arrays (frames, C, H, W). The clip is
    Poisson event counts, long enough that every temporal layer's history is filled.
    """
    from pleiades_fpga.ir.golden import GoldenModel

    first = ir.tensors[ir.layers[0].output]
    warm = 1 + max((layer.params.history_frames for layer in ir.layers), default=0)
    rng = np.random.default_rng(seed)
    clip = rng.poisson(0.6, size=(1, first.channels, warm + frames, first.height, first.width)).astype(np.float64)
    _, trace = GoldenModel(ir).run(clip, trace=True)
    producer = {layer.output: layer.name for layer in ir.layers}
    out = {"net/in": trace[ir.layers[0].name][0].transpose(1, 2, 3, 0).astype(np.float32),  # (T, H, W, C)
           "net/out": trace[producer[ir.output]][0][:, :, 0, 0].T.astype(np.float32)}      # (T, classes)
    for seg in segments:
        for key, names in (("in", seg.inputs), ("out", seg.outputs)):
            for k, t in enumerate(names):
                out[f"{seg.name}/{key}{k}"] = trace[producer[t]][0][:, warm:].transpose(1, 0, 2, 3).astype(np.float32)
    return out


def _dtype(bits: int, signed: bool) -> str:
    return f"{'INT' if signed else 'UINT'}{bits}"


def network_job(ir: IRGraph, manifest: dict, segments: list[Segment], out_dir: Path,
                part_name: str) -> dict | None:
    """The whole network for the worker: units (our temporal layers with their FINN op attributes, the segments)
    in an order where every unit's inputs come earlier; None when a layer has no FINN op of ours (recurrent
    projection layers), then only the segments are done."""
    if any(layer.kind == "projection" for layer in ir.layers):
        return None
    from pleiades_fpga.hw.rtl.lint import template_sources
    from pleiades_fpga.report.estimate import estimate_layer
    from pleiades_fpga.toolflow.parts import get_part

    part = get_part(part_name)
    mlayers = {layer["name"]: layer for layer in manifest["layers"]}
    units: list[dict] = []
    for layer in ir.layers:
        if not layer.params.history_frames:  # temporal convs (projections: returned above)
            continue
        tin, tout = ir.tensors[layer.inputs[0]], ir.tensors[layer.output]
        m = mlayers[layer.name]
        est = estimate_layer(m, part)
        module = str(m.get("instance", "")).removeprefix("u_")
        k = layer.params.kernel[0]
        units.append({"kind": "temporal", "name": layer.name, "node": layer.name.replace(".", "_"),
                      "input": layer.inputs[0], "output": layer.output, "attrs": {
                          "NumInChannels": tin.channels, "NumOutChannels": tout.channels,
                          "ImgDim": [tin.height, tin.width], "Kernel": k, "Groups": layer.params.groups,
                          "Weights": [int(v) for v in np.asarray(layer.params.weight).reshape(tout.channels, -1, k).ravel()],
                          "Bias": [int(v) for v in layer.params.bias], "Mult": [int(v) for v in layer.multiplier],
                          "Shift": [int(v) for v in layer.shift],
                          "inputDataType": _dtype(tin.bits, tin.signed), "outputDataType": _dtype(tout.bits, tout.signed),
                          "PE": int(m.get("pe", 1)), "SIMD": int(m.get("simd", 1)),
                          "Cycles": int(m["cycles_per_frame"]), "EstLUT": int(est["lut"]), "EstDSP": int(est["dsp"]),
                          "EstBRAM18": float(est["bram_blocks"] * part.bram_block_bits / 18432.0), "RtlModule": module,
                          "RtlFiles": [str(p.resolve()) for p in template_sources(module, out_dir / "rtl")]}})
    units += [{"kind": "segment", "name": s.name, "inputs": s.inputs, "outputs": s.outputs} for s in segments]
    first = ir.layers[0]
    available, ordered = {first.output}, []
    while units:
        ready = next((u for u in units if all(t in available for t in (u.get("inputs") or [u.get("input")]))), None)
        if ready is None:
            raise PleiadesError(f"cannot order the FINN network units: {[u['name'] for u in units]}")
        units.remove(ready)
        ordered.append(ready)
        available.update(ready.get("outputs") or [ready["output"]])
    tin, tout = ir.tensors[first.output], ir.tensors[ir.output]
    return {"input": first.output, "input_shape": [tin.height, tin.width, tin.channels],
            "input_dtype": _dtype(tin.bits, tin.signed), "output": ir.output, "classes": tout.channels,
            "units": ordered}


def run_worker(python: Path, job_path: Path, segments: list[Segment], log_path: Path, network: bool = True) -> None:
    """Run the FINN worker with a progress bar; Ctrl-C stops it; a failure raises with the log's tail."""
    from pleiades_fpga.hw.finn_backend.worker import STEPS

    # + the whole network: stitch, estimates, hdl, run
    bar = tqdm(total=len(segments) * len(STEPS) + (4 if network else 0), desc="FINN", unit="step")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(python), str(WORKER), str(job_path)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if line.startswith("@@ "):
                    bar.set_postfix_str(line[3:].strip())
                    bar.update(1)
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(timeout=30)
            raise
        finally:
            bar.close()
    if proc.returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-20:])
        raise PleiadesError(f"the FINN worker failed (exit {proc.returncode}); log {log_path}:\n{tail}")


def _merge_reports(finn_dir: Path, segments: list[Segment]) -> None:
    """finn/estimate_*.json over all segments (node keys ``segN/NODE``, per-segment and total sums)."""
    res: dict[str, Any] = {}
    cycles: dict[str, int] = {}
    perf: dict[str, Any] = {"segments": {}}
    for seg in segments:
        sdir = finn_dir / seg.name
        if not all((sdir / f).is_file() for f in FINN_REPORTS):
            continue
        r = json.loads((sdir / FINN_REPORTS[0]).read_text())
        for node, v in r.items():
            if node != "total":
                res[f"{seg.name}/{node}"] = v
        res[f"{seg.name}/total"] = r.get("total", {})
        cycles.update({f"{seg.name}/{n}": c for n, c in json.loads((sdir / FINN_REPORTS[1]).read_text()).items()})
        perf["segments"][seg.name] = json.loads((sdir / FINN_REPORTS[2]).read_text())
    res["total"] = {k: sum(v.get(k, 0) for n, v in res.items() if n.endswith("/total")) for k in ("LUT", "DSP",
                                                                                                 "BRAM_18K", "URAM")}
    seg_perf = perf["segments"]
    if seg_perf:
        worst = max(seg_perf, key=lambda s: seg_perf[s]["max_cycles"])
        perf.update({"max_cycles": seg_perf[worst]["max_cycles"],
                     "max_cycles_node_name": f"{worst}/{seg_perf[worst]['max_cycles_node_name']}",
                     "note": "FINN segments only (the temporal layers are ours); each segment's critical path is "
                             "FINN's pessimistic sum of its node cycles"})
    for name, data in zip(FINN_REPORTS, (res, cycles, perf)):
        write_json_atomic(finn_dir / name, data)


def compare(ir: IRGraph, manifest: dict, segments: list[Segment], finn_dir: Path, test: dict[str, np.ndarray],
            worker: dict, part_name: str, clock_mhz: float) -> dict[str, Any]:
    """comparison.json: FINN estimates vs ours per segment (+ the temporal layers, ours only) and exactness."""
    from pleiades_fpga.report.estimate import estimate_layer
    from pleiades_fpga.toolflow.parts import get_part

    part = get_part(part_name)
    ours = {layer["name"]: (layer, estimate_layer(layer, part)) for layer in manifest["layers"]}
    per_block = part.bram_block_bits / 18432.0  # our blocks in BRAM18 units

    def our_sum(names: list[str]) -> dict[str, Any]:
        rows = [ours[n] for n in names if n in ours]
        return {"lut": sum(e["lut"] for _, e in rows), "dsp": sum(e["dsp"] for _, e in rows),
                "bram18": round(sum(e["bram_blocks"] for _, e in rows) * per_block, 2),
                "cycles_per_frame": max((int(m.get("cycles_per_frame", 0)) for m, _ in rows), default=0)}

    by_name = {s["name"]: s for s in worker.get("segments", [])}
    rows = []
    for seg in segments:
        w = by_name.get(seg.name, {})
        sdir = finn_dir / seg.name
        row: dict[str, Any] = {"segment": seg.name, "layers": seg.layers, "ours": our_sum(seg.layers),
                               "finn_steps": w.get("steps", {}), "finn_nodes": w.get("dataflow_nodes", []),
                               "outside_dataflow": w.get("outside_dataflow", [])}
        if (sdir / FINN_REPORTS[0]).is_file():
            r = json.loads((sdir / FINN_REPORTS[0]).read_text())["total"]
            p = json.loads((sdir / FINN_REPORTS[2]).read_text())
            if (sdir / "estimate_layer_resources_dsp.json").is_file():
                d = json.loads((sdir / "estimate_layer_resources_dsp.json").read_text())["total"]
                row["finn_dsp_multipliers"] = {"lut": round(float(d.get("LUT", 0))), "dsp": int(d.get("DSP", 0)),
                                               "bram18": float(d.get("BRAM_18K", 0))}
            row["finn"] = {"lut": round(float(r.get("LUT", 0))), "dsp": int(r.get("DSP", 0)),
                           "bram18": float(r.get("BRAM_18K", 0)), "uram": int(r.get("URAM", 0)),
                           "cycles_per_frame": int(p["max_cycles"]), "slowest_node": p["max_cycles_node_name"],
                           "critical_path_cycles": int(p["critical_path_cycles"])}
        row["functional"] = _exactness(seg, sdir, test)
        rows.append(row)
    temporal = [{"layer": n, "implemented_by": "pleiades RTL", **our_sum([n])}
                for n in (layer.name for layer in ir.temporal_layers())]
    ir_names = {layer.name for layer in ir.layers}
    glue = [{"layer": n, "kind": ours[n][0].get("kind"), "implemented_by": "pleiades RTL", **our_sum([n])}
            for n in ours if n not in ir_names]  # stream forks (+ skip FIFOs) between the units
    finn_total = {k: sum(r["finn"][k] for r in rows if "finn" in r) for k in ("lut", "dsp", "bram18")}
    finn_dsp = {k: sum(r["finn_dsp_multipliers"][k] for r in rows if "finn_dsp_multipliers" in r)
                for k in ("lut", "dsp", "bram18")}
    ours_seg = {k: sum(r["ours"][k] for r in rows) for k in ("lut", "dsp", "bram18")}
    ours_tmp = {k: sum(t[k] for t in temporal + glue) for k in ("lut", "dsp", "bram18")}
    cycles = max([r["finn"]["cycles_per_frame"] for r in rows if "finn" in r]
                 + [t["cycles_per_frame"] for t in temporal], default=0)
    return {
        "format": "pleiades-fpga-finn-comparison/1", "finn_version": worker.get("finn_version"),
        "part": part.name, "fpga_part": part.vivado_part or part.name, "clock_mhz": clock_mhz,
        "target_cycles_per_frame": worker.get("target_cycles"),
        "finn_dsp_multipliers": "FINN's estimate of the same folded design with resType=dsp on MVAU/VVAU",
        "units": {"lut": "LUT", "dsp": "DSP blocks", "bram18": "18 kbit block RAMs", "cycles_per_frame":
                  "slowest unit's cycles per frame (throughput bound)"},
        "segments": rows, "temporal_layers": temporal, "glue_layers": glue,
        "totals": {"finn_segments": finn_total, "finn_segments_dsp_multipliers": finn_dsp, "ours_segments": ours_seg, "ours_temporal_and_glue": ours_tmp,
                   "split_design": {k: finn_total[k] + ours_tmp[k] for k in finn_total},
                   "all_ours": {k: ours_seg[k] + ours_tmp[k] for k in finn_total},
                   "split_design_cycles_per_frame": cycles,
                   "split_design_fps": clock_mhz * 1e6 / cycles if cycles else None,
                   "all_ours_cycles_per_frame": int(manifest["cycles_per_frame"])},
        "network": _network(finn_dir, worker, test),
        "all_segments_ok": all("finn" in r for r in rows),
        "all_exact": all(r["functional"].get("exact") for r in rows),
    }


def _network(finn_dir: Path, worker: dict, test: dict[str, np.ndarray]) -> dict[str, Any]:
    """The whole network as one FINN graph (our temporal ops + FINN's HW layers): FINN's view and exactness."""
    net = worker.get("network")
    if not net:
        return {"ran": False, "why": "not run: a segment failed, or the model has recurrent projection layers "
                                     "(no FINN op of ours for them)"}
    out: dict[str, Any] = {"ran": bool(net.get("ok")), "steps": net.get("steps"), "error": net.get("error")}
    ndir = finn_dir / "network"
    if (ndir / FINN_REPORTS[2]).is_file():
        perf = json.loads((ndir / FINN_REPORTS[2]).read_text())
        res = json.loads((ndir / FINN_REPORTS[0]).read_text())["total"]
        res_dsp = json.loads((ndir / "estimate_layer_resources_dsp.json").read_text())["total"]
        out["finn_view"] = {"lut": round(float(res.get("LUT", 0))), "dsp": int(res.get("DSP", 0)),
                            "bram18": float(res.get("BRAM_18K", 0)), "lut_dsp_multipliers": round(float(res_dsp["LUT"])),
                            "dsp_dsp_multipliers": int(res_dsp["DSP"]), **perf}
    if net.get("hdl"):  # FINN's generate_hdl output for our temporal ops: wrapper + our Verilog, lint-clean?
        from pleiades_fpga.hw.rtl.lint import verilator_lint

        out["hdl"] = {}
        for node, h in net["hdl"].items():
            rep = verilator_lint(h["top"], [Path(f) for f in h["files"]])
            out["hdl"][node] = {"top": h["top"], "dir": str(Path(h["files"][-1]).parent.relative_to(finn_dir.resolve())),
                                "verilator_lint_ok": rep.ok, "lint_messages": rep.messages[:5]}
    if (ndir / "logits.npy").is_file():
        got, ref = np.load(ndir / "logits.npy"), test["net/out"]
        out.update({"frames": int(ref.shape[0]), "values": int(ref.size),
                    "mismatches": int(np.count_nonzero(got != ref)), "exact": bool(np.array_equal(got, ref))})
    return out


def _exactness(seg: Segment, sdir: Path, test: dict[str, np.ndarray]) -> dict[str, Any]:
    path = sdir / "exec.npz"
    if not path.is_file():
        return {"ran": False, "exact": False}
    got = np.load(path)
    out: dict[str, Any] = {"ran": True, "frames": 0}
    for stage in ("finn_onnx", "streamlined", "hw_layers"):
        if f"{stage}/out0" not in got:
            out[f"{stage}_mismatches"] = None
            continue
        mism, total = 0, 0
        for k in range(len(seg.outputs)):
            ref = test[f"{seg.name}/out{k}"]
            mism += int(np.count_nonzero(got[f"{stage}/out{k}"] != ref))
            total += ref.size
            out["frames"] = int(ref.shape[0])
        out[f"{stage}_mismatches"] = mism
        out["values"] = total
    # the graph FINN builds from (HW layers, ties rounded to even) against the golden model; finn_onnx is FINN's
    # raw QONNX conversion (thresholds round ties up)
    out["exact"] = out["hw_layers_mismatches"] == 0 and out["streamlined_mismatches"] == 0
    return out


def build_finn(onnx_path: str | Path, out_dir: str | Path, clock_mhz: float = 100.0, part: str = DEFAULT_PART,
               folding: str | Path | None = None, target_fps: float | None = None,
               max_multipliers: int | None = None, float_checkpoint: str | Path | None = None,
               test_frames: int = 3, **ignored: Any) -> dict[str, Any]:
    """Build ``out_dir`` (see the module docstring); return the manifest (the RTL manifest + a ``finn`` entry)."""
    from pleiades_fpga.hw.build import build_rtl
    from pleiades_fpga.ir.reader import read_qonnx
    from pleiades_fpga.toolflow.parts import get_part

    python = check_env()  # clear error before any work when FINN is missing
    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    if not onnx_path.is_file():
        raise PleiadesError(f"model {onnx_path} does not exist; export one with `pleiades-fpga export`")
    fpga = get_part(part)
    if fpga.family != "xc7":
        raise PleiadesError(f"FINN targets AMD/Xilinx parts; {part!r} is {fpga.family}. Use e.g. --target xc7z020")
    manifest = build_rtl(onnx_path, out_dir, folding=folding, target_fps=target_fps, clock_mhz=clock_mhz,
                         max_multipliers=max_multipliers, float_checkpoint=float_checkpoint)
    ir = read_qonnx(out_dir / "model.onnx")
    finn_dir = out_dir / "finn"
    finn_dir.mkdir(parents=True, exist_ok=True)
    segments = write_segments(out_dir / "model.onnx", ir, finn_dir / "segments")
    for seg in segments:
        seg.onnx_file = f"segments/{seg.onnx_file}"
    split = split_summary(ir, segments)
    write_json_atomic(finn_dir / "split.json", split)
    test = segment_test_data(ir, segments, test_frames)
    write_npz_atomic(finn_dir / "test_data.npz", **test)
    job = {"segment_dir": str(finn_dir.resolve()), "out_dir": str(finn_dir.resolve()),
           "part": fpga.vivado_part or fpga.name, "clock_mhz": clock_mhz,
           "target_cycles": int(manifest["cycles_per_frame"]), "test_inputs": str((finn_dir / "test_data.npz").resolve()),
           "segments": [{"name": s.name, "onnx": s.onnx_file} for s in segments],
           "network": network_job(ir, manifest, segments, out_dir, fpga.name),
           "repo_root": str(Path(__file__).resolve().parents[3])}
    job_path = finn_dir / "job.json"
    write_json_atomic(job_path, job)
    run_worker(python, job_path, segments, finn_dir / "finn.log", network=job["network"] is not None)
    worker = json.loads((finn_dir / "worker_result.json").read_text())
    _merge_reports(finn_dir, segments)
    comparison = compare(ir, manifest, segments, finn_dir, test, worker, fpga.name, clock_mhz)
    write_json_atomic(finn_dir / "comparison.json", comparison)
    manifest["finn"] = {"dir": "finn", "segments": [s.name for s in segments], "split": "finn/split.json",
                        "comparison": "finn/comparison.json", "reports": [f"finn/{f}" for f in FINN_REPORTS],
                        "all_segments_ok": comparison["all_segments_ok"], "all_exact": comparison["all_exact"]}
    write_json_atomic(out_dir / "manifest.json", manifest)
    return manifest


def comparison_table(comparison: dict[str, Any]) -> str:
    """The comparison as a plain-text table (printed by the CLI)."""
    lines = [f"{'unit':<10}{'FINN LUT':>10}{'ours LUT':>10}{'FINN DSP':>9}{'ours DSP':>9}{'FINN BRAM18':>12}"
             f"{'ours BRAM18':>12}{'FINN cyc':>10}{'ours cyc':>10}  exact  FINN with DSP mults (LUT/DSP)"]
    for r in comparison["segments"]:
        f, o, d = r.get("finn"), r["ours"], r.get("finn_dsp_multipliers")
        fv = (f"{f['lut']:>10}{o['lut']:>10}{f['dsp']:>9}{o['dsp']:>9}{f['bram18']:>12g}{o['bram18']:>12g}"
              f"{f['cycles_per_frame']:>10}" if f else f"{'failed':>10}{o['lut']:>10}{'-':>9}{o['dsp']:>9}{'-':>12}"
              f"{o['bram18']:>12g}{'-':>10}")
        dv = f"{d['lut']}/{d['dsp']}" if d else "-"
        lines.append(f"{r['segment']:<10}{fv}{o['cycles_per_frame']:>10}  {str(r['functional'].get('exact')):<6} {dv}")
    for t in comparison["temporal_layers"] + comparison.get("glue_layers", []):
        lines.append(f"{t['layer']:<18}{'(RTL)':>2}{t['lut']:>10}{'':>9}{t['dsp']:>9}{'':>12}{t['bram18']:>12g}"
                     f"{'':>10}{t['cycles_per_frame']:>10}")
    net = comparison.get("network") or {}
    view = net.get("finn_view")
    if view:
        lines.append(f"whole network as one FINN graph (temporal layers = our FINN custom op): {view['lut']:,} LUT, "
                     f"{view['dsp']} DSP, {view['bram18']:g} BRAM18; slowest node {view['max_cycles_node_name']} "
                     f"({view['max_cycles']:,} cycles/frame); FINN Python run from reset == golden logits: "
                     f"{net.get('exact')} ({net.get('frames')} frames)")
    elif net:
        lines.append(f"whole network as one FINN graph: not done ({net.get('error') or net.get('why')})")
    return "\n".join(lines)
