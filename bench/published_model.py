"""The published DVS128 network at 128x128 on hardware (issue #14): build, verify, reports on three parts.

Every step runs the command line as a user would (``python -m pleiades_fpga.cli ...``) and is timed:
1. two networks: the published checkpoint imported and quantized w8a8 with the shipped per-layer widths
   (``import-checkpoint``, ``quantize --config quant/configs/published_w8a8.json``; GroupNorm), and a BatchNorm network of the published shape (channels, kernel 10, 128x128; untrained,
   ``export --quant w8a8``: the build and verification mechanics do not depend on training); a step that cannot
   run (e.g. no RTL for a layer kind yet, or no ../shared) is recorded as ``not_done`` with its reason;
2. ``build --backend rtl`` (folded within LFE5U-85F's multipliers, the default), and the same network folded within
   xc7z020's and xczu7ev's own multipliers (``build --max-multipliers``);
3. ``verify --frames 50 --clip-frames 50 --pause 0.2`` (past the 46-frame receptive field; random idle gaps and
   back-pressure, p = 0.2, plus the clip once without pauses for the cycles per frame and the latency) of the build
   folded for ``$PLEIADES_BENCH_VERIFY_PART`` (default xczu7ev, the part the network fits: 163,840 cycles per frame
   to simulate; LFE5U-85F: the default build, 1.77 M cycles per frame, about 10x the simulation time); the
   published network's verification also goes to bench/results/published_model_verify.json;
4. ``report --target`` xc7z020, LFE5U-85F, xczu7ev: fit verdict, memory per layer (and where it maps), what does
   not fit on chip, frames/s, latency, the recurrent-mode alternative's memory (analytic estimates; the
   cycles/latency measured in simulation when the build's verification is current); and, for xc7z020 and
   xczu7ev, the report of the build folded within that part's own multipliers;
5. at ``--bin-ms`` 5 and 20 (re-discretized kernels, K = 20 and 5): build and the reports' real-time verdicts at
   200 and 50 frames/s, also folded within xczu7ev's multipliers;
6. fidelity figures read from bench/results/published_fidelity.json when present (not recomputed here).

The published checkpoint: ``$PLEIADES_PUBLISHED_CKPT`` (default ../shared/fixtures/dvs128_ckpt.pt).
Work directory: ``$PLEIADES_BENCH_WORK`` (default /tmp/pleiades-bench/published_model). With
``PLEIADES_BENCH_REUSE=1`` a step whose outputs are already there for the current design is not re-run (a
report: when its design hash and verification status are still those of the build); the step is then recorded
as its command with ``"reused": true`` (no time; a verification's own times stay in its verification.json). ``PLEIADES_BENCH_VERIFY=0`` starts no
verification (one that is not current is then recorded as not verified). ``PLEIADES_BENCH_VERIFIED=DIR``: the work
directory of an earlier run (e.g. at an earlier quantization config) whose ``published128`` build is verified; its
build, verification and reports are added as ``published_verified`` and its verification, when this run's
published build has none, goes to bench/results/published_model_verify.json. ``PLEIADES_BENCH_BINS=20`` (comma list,
default 5,20; empty: none) chooses the re-sampled bin sizes.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, write_result
from pleiades_fpga.toolflow.parts import DEFAULT_PART

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = Path(os.environ.get("PLEIADES_PUBLISHED_CKPT", ROOT.parent / "shared" / "fixtures" / "dvs128_ckpt.pt"))
PARTS = ("xc7z020", "LFE5U-85F", "xczu7ev")
FRAMES = 50
PAUSE = 0.2
BINS_MS = tuple(int(b) for b in os.environ.get("PLEIADES_BENCH_BINS", "5,20").split(",") if b.strip())
CONFIG = ROOT / "pleiades_fpga" / "quant" / "configs" / "published_w8a8.json"   # the shipped per-layer widths
FOLD_PARTS = ("xc7z020", "xczu7ev")  # parts with a build folded within their own multipliers
VERIFY_PART = os.environ.get("PLEIADES_BENCH_VERIFY_PART", "xczu7ev")  # whose build is simulated
if VERIFY_PART not in (DEFAULT_PART,) + FOLD_PARTS:
    raise SystemExit(f"PLEIADES_BENCH_VERIFY_PART={VERIFY_PART!r}: one of {DEFAULT_PART} (the default build), "
                     f"{', '.join(FOLD_PARTS)}")


def _work() -> Path:
    return Path(os.environ.get("PLEIADES_BENCH_WORK", "/tmp/pleiades-bench/published_model"))


def _reuse() -> bool:
    return os.environ.get("PLEIADES_BENCH_REUSE", "") == "1"


def reused(*args: str) -> dict[str, Any]:
    """The record of a step not re-run (``PLEIADES_BENCH_REUSE``): the command that made its outputs."""
    return {"command": "pleiades-fpga " + " ".join(args), "reused": True}


def cli(*args: str, log: Path, check: bool = True) -> dict[str, Any]:
    """Run ``pleiades-fpga ARGS`` (this interpreter), output to ``log``; {"command", "seconds", "exit"}."""
    cmd = [sys.executable, "-m", "pleiades_fpga.cli", *args]
    print("$ pleiades-fpga " + " ".join(args), flush=True)
    t0 = time.monotonic()
    with open(log, "w") as out:
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - t0
    if check and rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"pleiades-fpga {' '.join(args)} exited {rc}:\n{tail}")
    return {"command": "pleiades-fpga " + " ".join(args), "seconds": round(seconds, 1), "exit": rc}


def standin_model(work: Path) -> tuple[Path, dict[str, Any]]:
    """The BatchNorm network of the published shape (untrained; w8a8 post-training quantization)."""
    ckpt, out = work / "bn128.pt", work / "bn128_w8a8.onnx"
    info: dict[str, Any] = {"model": "BatchNorm network of the published shape (channels, kernel 10, 128x128; "
                                     "untrained, w8a8 post-training quantization on 2 synthetic clips)"}
    if not ckpt.is_file():
        import torch

        from pleiades_fpga.model import build_model, get_preset
        from pleiades_fpga.model.checkpoint import save_checkpoint

        torch.manual_seed(0)
        cfg = get_preset("dvs128").replace(temporal_norm="batch", pad="causal")
        save_checkpoint(build_model(cfg), ckpt, meta={"note": "untrained BatchNorm network of the published shape"})
    if not (_reuse() and out.is_file()):
        info["export"] = cli("export", str(ckpt), "--quant", "w8a8", "--calib-clips", "2", "--out", str(out),
                             "--quiet", log=work / "export.log")
    return out, info


def published_model(work: Path, bin_ms: float | None = None) -> tuple[Path, dict[str, Any]]:
    """The published checkpoint imported and quantized w8a8 (``quantize --calib synthetic``, optionally re-sampled)."""
    if not PUBLISHED.is_file():
        raise RuntimeError(f"published checkpoint {PUBLISHED} absent (../shared is not part of a clone)")
    suffix = "" if bin_ms is None else f"_bin{bin_ms:g}ms"
    ckpt, out = work / "dvs128.pt", work / f"dvs128_w8a8{suffix}.onnx"
    info: dict[str, Any] = {"model": "published DVS128 checkpoint (GroupNorm), post-training quantized w8a8 with "
                                     f"the per-layer widths of {CONFIG.relative_to(ROOT)}"
                                     + (f", re-sampled to {bin_ms:g} ms bins" if bin_ms else ""),
                            "config": json.loads(CONFIG.read_text())}
    if not ckpt.is_file():
        info["import"] = cli("import-checkpoint", str(PUBLISHED), "--out", str(ckpt), log=work / "import.log")
    log = work / f"quantize{suffix}.log"
    if _reuse() and not out.is_file() and log.is_file() and "error" in log.read_text(errors="replace"):
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if "error" in ln.lower()]
        raise RuntimeError(f"quantize failed in an earlier run of this bench (reused log {log}): {lines[-1][:500]}")
    extra = ["--bin-ms", f"{bin_ms:g}"] if bin_ms is not None else []
    args = ("quantize", str(ckpt), "--quant", "w8a8", "--calib", "synthetic", "--config", str(CONFIG), *extra,
            "--out", str(out), "--quiet", "--no-progress")
    info["quantize"] = reused(*args) if _reuse() and out.is_file() else cli(*args, log=log)
    return out, info


def build(work: Path, model: Path, name: str, *options: str) -> tuple[Path, dict[str, Any]]:
    out = work / name
    info: dict[str, Any] = {}
    args = ("build", str(model), "--backend", "rtl", "--out", str(out), *options)
    info["build"] = reused(*args) if _reuse() and (out / "manifest.json").is_file() else \
        cli(*args, log=work / f"{name}.build.log")
    m = json.loads((out / "manifest.json").read_text())
    built = time.gmtime((out / "manifest.json").stat().st_mtime)
    info.update({"built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", built), "cycles_per_frame_analytic": m["cycles_per_frame"], "latency_cycles_analytic": m.get("latency_cycles"),
                 "multipliers": m["multipliers"], "macs_per_frame": m["macs_per_frame"],
                 "rtl_files": len(m["rtl_files"]),
                 "rtl_bytes": sum((out / f).stat().st_size for f in m["rtl_files"]),
                 "layers": len(m["layers"])})
    return out, info


def verify(work: Path, build_dir: Path) -> dict[str, Any]:
    from pleiades_fpga.report.report import read_verification

    ver = read_verification(build_dir)
    info: dict[str, Any] = {}
    args = ("verify", str(build_dir), "--frames", str(FRAMES), "--clip-frames", str(FRAMES), "--pause", str(PAUSE))
    if _reuse() and ver and ver.get("status") == "current" and ver.get("frames", 0) >= FRAMES:
        info["verify"] = reused(*args)
    elif os.environ.get("PLEIADES_BENCH_VERIFY", "1") == "0":
        info["not_verified"] = "PLEIADES_BENCH_VERIFY=0: no verification started by this run"
    else:
        info["verify"] = cli(*args, log=work / f"{build_dir.name}.verify.log", check=False)
        ver = read_verification(build_dir)
    return {**info, **verification_summary(ver)}


def verification_summary(ver: dict[str, Any] | None) -> dict[str, Any]:
    """The figures of a build's verification.json (None: not verified)."""
    keys = ("passed", "bit_exact", "frames", "clips", "pause", "runs", "values_compared", "mismatches",
            "mismatches_no_backpressure", "mismatches_backpressure", "missing_values", "nonzero_outputs",
            "cycles_per_frame_measured", "cycles_per_frame_analytic", "cycles_per_frame_ratio", "latency_cycles",
            "sim_cycles", "sim_seconds", "build_seconds", "sim_cycles_per_second", "sim_cycles_per_second_in_simulator",
            "sim_cycles_per_second_wall", "wall_seconds", "temporal_wraps", "jobs", "simulator_version",
            "latency_cycles_max", "design_hash")
    info: dict[str, Any] = {k: (ver or {}).get(k) for k in keys}
    checks = (ver or {}).get("stream_checks") or {}
    info["stream_checks"] = {k: checks.get(k) for k in ("streams", "violations", "ok")}
    info["status"] = (ver or {}).get("status")
    return info


def report(work: Path, build_dir: Path, part: str) -> dict[str, Any]:
    from pleiades_fpga.artifacts import design_hash
    from pleiades_fpga.report.report import read_verification

    path = build_dir / f"report_{part}.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    ver = read_verification(build_dir)
    args = ("report", str(build_dir), "--target", part, "--no-html")
    if (_reuse() and old.get("design_hash") == design_hash(build_dir)
            and (old.get("verification") or {}).get("status") == (ver or {}).get("status")):
        info = reused(*args)
    else:
        info = cli(*args, check=False, log=work / f"{build_dir.name}.{part}.log")   # exit 1: not real time
        shutil.copyfile(build_dir / "report.json", path)
    r = json.loads(path.read_text())
    per_layer = []
    for l in r["layers"]:
        mems = [{k: m[k] for k in ("name", "kind", "depth", "width", "bits", "resource", "bram_bits", "uram_bits")}
                for m in l["memories"] if m["bits"] > 4096]
        per_layer.append({"layer": l["name"], "memory_bits": l["memory_bits"], "memories": mems})
    available = r["available"]
    over = {k: {"used": r["resources"][k], "available": available[k]} for k in r["resources"]
            if r["resources"][k] > available[k]}
    big = sorted(((m["bits"], l["layer"], m["name"]) for l in per_layer for m in l["memories"]
                  if m["kind"] == "circular_buffer"), reverse=True)
    return {
        "command": info, "report_file": str(path), "target": r["target"], "fits": r["fits"],
        "realtime": r["realtime"], "verdict": r["verdict"], "resources": r["resources"],
        "resources_source": r["resources_source"], "available": available,
        "utilization_percent": r["utilization_percent"], "does_not_fit": over,
        "largest_buffers": [{"layer": b[1], "memory": b[2], "bits": b[0]} for b in big],
        "fmax_mhz": r["fmax_mhz"], "fmax_source": r["fmax_source"], "frames_per_second": r["frames_per_second"],
        "required_fps": r["required_fps"], "cycles_per_frame": r["cycles_per_frame"],
        "cycles_source": r["cycles_source"], "latency_cycles": r["latency_cycles"], "latency_us": r["latency_us"],
        "latency_source": r["latency_source"], "memory": r["memory"], "memory_per_layer": per_layer,
        "temporal_memory": r["temporal_memory"], "verified": r["verified"],
    }


_SHORT = ("fits", "realtime", "verdict", "frames_per_second", "required_fps", "fmax_mhz", "fmax_source",
          "cycles_per_frame", "latency_us", "resources", "does_not_fit")


def build_name(tag: str, part: str) -> str:
    """The build of network ``tag`` for ``part``: the default build (folded for LFE5U-85F) or the one folded within
    ``part``'s own multipliers."""
    return f"{tag}128" if part == DEFAULT_PART else f"{tag}128_{part}"


def verified_build(work: Path, tag: str) -> Path:
    """The build of network ``tag`` that is simulated: the one folded for ``VERIFY_PART``."""
    return work / build_name(tag, VERIFY_PART)


def network(work: Path, tag: str, model: Path, model_info: dict[str, Any]) -> dict[str, Any]:
    """Build and report one 128x128 network and its builds folded for xc7z020 and xczu7ev; verify the one folded
    for ``VERIFY_PART``."""
    from pleiades_fpga.report.report import read_verification
    from pleiades_fpga.toolflow.parts import get_part, multiplier_budget

    budgets = {p: multiplier_budget(get_part(p)) for p in FOLD_PARTS}
    build_dir, build_info = build(work, model, build_name(tag, DEFAULT_PART))
    folded = {p: build(work, model, build_name(tag, p), "--max-multipliers", str(budgets[p])) for p in FOLD_PARTS}
    dirs = {DEFAULT_PART: build_dir, **{p: d for p, (d, _) in folded.items()}}
    verification = {"part": VERIFY_PART, "build": dirs[VERIFY_PART].name, **verify(work, dirs[VERIFY_PART])}
    others = {p: verification_summary(ver) for p, d in dirs.items()   # earlier verifications of the other builds,
              if p != VERIFY_PART and (ver := read_verification(d))}  # not re-run
    out: dict[str, Any] = {"model": model_info, "build": build_info, "verification": verification,
                           "other_verifications": others,
                           "reports": {p: report(work, build_dir, p) for p in PARTS}}
    own: dict[str, Any] = {}
    for p, (bdir, binfo) in folded.items():
        r = report(work, bdir, p)
        own[p] = {"max_multipliers": budgets[p], "build": binfo, "report": {k: r[k] for k in _SHORT}}
    out["folded_for_part"] = own
    return out


def verified_section(earlier: Path) -> dict[str, Any]:
    """The verified published build of an earlier run (``PLEIADES_BENCH_VERIFIED``): its model, build,
    verification and reports (no step re-run: only what the directory holds)."""
    build_dir = verified_build(earlier, "published")
    m = json.loads((build_dir / "manifest.json").read_text())
    log = earlier / "quantize.log"
    summary = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("quantized ")] \
        if log.is_file() else []
    return {"work_dir": str(earlier), "model": {"onnx": str(earlier / "dvs128_w8a8.onnx"),
                                                "quantize_summary": summary[-1] if summary else None},
            "build": {"built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(
                (build_dir / "manifest.json").stat().st_mtime)),
                "cycles_per_frame_analytic": m["cycles_per_frame"], "latency_cycles_analytic": m.get("latency_cycles"),
                "multipliers": m["multipliers"]},
            "verification": verify(earlier, build_dir),
            "reports": {p: {k: v for k, v in report(earlier, build_dir, p).items() if k in _SHORT + (
                "latency_cycles", "latency_source", "cycles_source", "verified")} for p in PARTS}}


def write_verify_result(build_dir: Path, published: dict[str, Any]) -> None:
    """bench/results/published_model_verify.json: the published network's build and its verification (the whole
    verification.json), with the analytic latency against the measured one."""
    from pleiades_fpga.report.report import read_verification

    ver = read_verification(build_dir)
    if not ver:
        raise RuntimeError(f"{build_dir} has no verification (run without PLEIADES_BENCH_VERIFY=0)")
    m = json.loads((build_dir / "manifest.json").read_text())
    measured, analytic = ver.get("latency_cycles"), m.get("latency_cycles")
    folded = (published.get("folded_for_part") or {}).get(VERIFY_PART)   # the build verified (None: the default)
    build_step = ((folded or published).get("build") or {}).get("build")
    write_result("published_model_verify", {
        "what": "the published DVS128 checkpoint (causal GroupNorm, 128x128) quantized w8a8 with the shipped "
                f"per-layer widths, built by the RTL backend (folded within {VERIFY_PART}'s multiplier blocks) and "
                f"verified on Verilator over one {FRAMES}-frame clip, once without pauses (cycles per frame, latency) "
                f"and once with random input idles and output back-pressure (p = {PAUSE})",
        "commands": [c["command"] for c in (published.get("model", {}).get("quantize"), build_step,
                                            published.get("verification", {}).get("verify")) if c],
        "model": published.get("model"),
        "manifest": {k: m.get(k) for k in ("cycles_per_frame", "latency_cycles", "multipliers", "macs_per_frame",
                                           "ideal_cycles_per_frame")},
        "latency": {"measured_cycles": measured, "analytic_cycles": analytic,
                    "analytic_error": (analytic / measured - 1) if measured and analytic else None,
                    "measured_is": "first input beat of a frame to its logits, median over the frames of the run "
                                   "without pauses (verify)"},
        "status": ver.get("status"),
        "verification": ver,
    })


def _attempt(what: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:   # a step that cannot run yet is recorded with its reason, not hidden
        print(f"{what}: not done: {exc}", flush=True)
        return {"not_done": f"{type(exc).__name__}: {exc}"[:2000]}


def main() -> dict:
    work = _work()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    commit = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cI"], capture_output=True,
                            text=True).stdout.strip()
    result: dict[str, Any] = {"work_dir": str(work), "commit_at_bench_time": commit, "frames_verified": FRAMES,
                              "parts": list(PARTS)}
    result["standin"] = _attempt("stand-in", lambda: network(work, "standin", *standin_model(work)))
    result["published"] = _attempt("published", lambda: network(work, "published", *published_model(work)))
    verified, earlier = work, os.environ.get("PLEIADES_BENCH_VERIFIED")
    if earlier:
        result["published_verified"] = _attempt("verified build", lambda: verified_section(Path(earlier)))
        if "not_done" not in result["published_verified"] and not (result["published"].get("verification") or {}
                                                                      ).get("passed"):
            verified = Path(earlier)
    _attempt("published verification",
             lambda: write_verify_result(verified_build(verified, "published"),
                                         result["published"] if verified == work else result["published_verified"]))
    bins: dict[str, Any] = {}
    for ms in BINS_MS:
        def one(ms: int = ms) -> dict[str, Any]:
            from pleiades_fpga.toolflow.parts import get_part, multiplier_budget

            m, info = published_model(work, bin_ms=ms)
            bdir, binfo = build(work, m, f"published128_bin{ms}ms")
            budget = multiplier_budget(get_part("xczu7ev"))    # the largest part: can it reach the bin's rate?
            zdir, zinfo = build(work, m, f"published128_bin{ms}ms_xczu7ev", "--max-multipliers", str(budget))
            return {"model": info, "build": binfo,
                    "reports": {p: {k: v for k, v in report(work, bdir, p).items() if k in _SHORT} for p in PARTS},
                    "folded_for_xczu7ev": {"max_multipliers": budget, "build": zinfo,
                                           "report": {k: v for k, v in report(work, zdir, "xczu7ev").items()
                                                      if k in _SHORT}}}
        bins[f"{ms}ms"] = _attempt(f"{ms} ms bins", one)
    result["bin_sizes"] = bins
    fid = RESULTS / "published_fidelity.json"
    result["fidelity"] = (json.loads(fid.read_text()) if fid.is_file()
                          else "bench/results/published_fidelity.json absent (its bench has not run)")
    result["wall_seconds"] = round(time.monotonic() - t0, 1)
    write_result("published_model", result)
    return result


if __name__ == "__main__":
    main()
