"""Whole-network verification of an RTL build: the HDL harness on Verilator/Icarus vs the integer golden model.

``verify_build(build_dir)`` streams clips of event frames through the generated top inside the HDL harness
of :mod:`pleiades_fpga.sim.harness` (every clip after a reset, with random idle gaps on the input and
back-pressure on the output; the first clip also once without pauses, for cycles per frame and latency),
compares every output integer with the golden model of the build's ``model.onnx`` (bit-exact means 0
mismatches), collects the stream checks of every internal stream (a violation fails verification),
reports agreement with the float model when a float checkpoint is available, and writes
``verification.json`` and ``verification.npz`` into the build directory. Clips are split over ``jobs``
simulator processes sharing one cached build.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pleiades_fpga.artifacts import HASH_KEY, design_hash, write_json_atomic, write_npz_atomic
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.paths import check_output_dir
from pleiades_fpga.report.report import load_manifest
from pleiades_fpga.ir.golden import GoldenModel
from pleiades_fpga.hw.rtl.generate import rtl_sources
from pleiades_fpga.sim.axis import unpack_pixel
from pleiades_fpga.sim.harness import (CHECK_KINDS, HARNESS_TOP, MAX_PAUSE, Stream, max_clip_frames,
                                       pause_threshold, write_frames_hex, write_harness)
from pleiades_fpga.sim.runner import SimulationError, build
from pleiades_fpga.toolflow.locate import SIMULATORS, simulator_version
from pleiades_fpga.toolflow.toolrun import kill_group, sigterm_interrupts

TB_MODULE = "pleiades_fpga.sim.tb.tb_network"
VERILATOR_ARGS = ("--timing", "-CFLAGS", "-std=c++20",  # the harness clock is an HDL delay
                  "--no-public-flat-rw")  # only what cocotb reads is public (verilator metacomments)
DEFAULT_CLIP_FRAMES = 100
NOMINAL_CYCLES_PER_S = {"verilator": 150_000, "icarus": 2_000}  # for the up-front estimate only
MAX_JOBS = 64  # simulator processes verify starts at most
SIM_PROCESS_MB = 150  # memory of one simulator process (cocotb + the compiled harness), for the estimate


def available_memory_mb() -> float | None:
    """Memory this machine has available now (MemAvailable), in MB; None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (ValueError, OSError, AttributeError):
        return None


def event_clip(index: int, height: int, width: int, bin_us: int, clip_frames: int, seed: int = 0) -> np.ndarray:
    """Test clip ``index`` (2, clip_frames, H, W) of event counts.

    A synthetic gesture clip (test split) at the design's resolution when it is a square the generator
    supports directly or by integer downsampling; otherwise Poisson event counts.
    """
    from pleiades_fpga.data import bin_events, downsample_events, synthetic_clip

    res = next((r for r in (32, 64, 128) if height == width and r % height == 0), None)
    if res is None:
        return np.random.default_rng([seed, index]).poisson(0.4, size=(2, clip_frames, height, width)).astype(np.float32)
    ev, _ = synthetic_clip(index, "test", seed, res, max(clip_frames * bin_us, 100_000))
    ev = downsample_events(ev, res // height)
    return bin_events(ev, bin_us, height, width, clip_frames).astype(np.float32)


def event_clips(n_frames: int, height: int, width: int, bin_us: int, clip_frames: int, seed: int = 0) -> np.ndarray:
    """Test clips (N, 2, clip_frames, H, W) of event counts covering ``n_frames`` frames (see :func:`event_clip`)."""
    n_clips = max(1, -(-n_frames // clip_frames))
    return np.stack([event_clip(i, height, width, bin_us, clip_frames, seed) for i in range(n_clips)])


def float_logits(checkpoint: Path | Any, clips: np.ndarray) -> np.ndarray:
    """Causal-mode logits (N, classes, T) of a float (or quant) checkpoint (a path or a loaded model) on ``clips``."""
    import torch

    from pleiades_fpga.model import load_model

    model = (load_model(checkpoint) if isinstance(checkpoint, (str, Path)) else checkpoint).eval()
    with torch.no_grad():
        return model(torch.from_numpy(clips).float(), pad="causal").double().numpy()


def check_options(frames: int, sim: str, clip_frames: int | None, seed: int, pause: float, jobs: int) -> None:
    """Raise PleiadesError naming the first bad verify option (before any work)."""
    def bad(what: str, fix: str) -> PleiadesError:
        return PleiadesError(f"{what}: {fix}")

    for name, value in (("frames", frames), ("jobs", jobs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise bad(f"--{name} {value!r} is invalid", "give a whole number >= 1")
    if jobs > MAX_JOBS:
        raise bad(f"--jobs {jobs} is too many", f"give at most {MAX_JOBS} (one simulator process each; more than "
                  f"the {os.cpu_count() or 1} cores here only share them)")
    if clip_frames is not None and (isinstance(clip_frames, bool) or not isinstance(clip_frames, (int, np.integer))
                                    or clip_frames < 1):
        raise bad(f"--clip-frames {clip_frames!r} is invalid", "give a whole number >= 1 (frames per clip)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise bad(f"--seed {seed!r} is invalid", "give a whole number >= 0")
    if not isinstance(pause, (int, float, np.floating)) or not 0.0 <= float(pause) <= MAX_PAUSE:
        raise bad(f"--pause {pause!r} is invalid", f"give a pause probability in [0, {MAX_PAUSE}] (the harness's "
                  "pause generator and timeouts need the stream to move; 1 would stall forever)")
    if sim not in SIMULATORS:
        raise bad(f"--sim {sim!r} is unknown", f"choose one of {', '.join(SIMULATORS)}")


def _input_ints(golden: GoldenModel, clip: np.ndarray) -> np.ndarray:
    """The integers the design receives for ``clip`` (C, T, H, W): the golden model's input quantizer."""
    return golden.quantize_input(np.asarray(clip)[None])[0]


def _compact(a: np.ndarray) -> np.ndarray:
    """``a`` in the narrowest integer dtype holding its values."""
    if a.size == 0:
        return a.astype(np.int8)
    return a.astype(np.result_type(np.min_scalar_type(int(a.min())), np.min_scalar_type(int(a.max()))))


def _start_simulation(request: dict[str, Any], path: Path) -> subprocess.Popen:
    """Start one simulator process (``python -m pleiades_fpga.sim.runner``) on ``request``; results in ``path``."""
    req = path.with_suffix(".request.json")
    req.write_text(json.dumps(request))
    log = open(path.with_suffix(".log"), "w")
    return subprocess.Popen([sys.executable, "-m", "pleiades_fpga.sim.runner", str(req), str(path)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _finish_simulation(proc: subprocess.Popen, path: Path) -> dict[str, Any]:
    """Result of a finished simulator process, or SimulationError with the end of its log."""
    if proc.returncode != 0 or not path.is_file():
        log = path.with_suffix(".log").read_text(errors="replace").splitlines()
        raise SimulationError(f"simulator process failed (exit {proc.returncode}):\n" + "\n".join(log[-40:]))
    return json.loads(path.read_text())


def _chunks(runs: list[dict[str, Any]], jobs: int) -> list[list[dict[str, Any]]]:
    """Split runs into at most ``jobs`` contiguous chunks of about equal frame counts."""
    total = sum(r["frames"] for r in runs)
    out: list[list[dict[str, Any]]] = [[]]
    done = 0
    for r in runs:
        if out[-1] and done >= total * len(out) / jobs:
            out.append([])
        out[-1].append(r)
        done += r["frames"]
    return out


def _stream_checks(streams: list[Stream], runs: list[dict[str, Any]], results: dict[int, dict[str, Any]],
                   clip_of: dict[int, int]) -> dict[str, Any]:
    """Aggregate the checkers' counters over all runs; every violation becomes a message (layer, clip, frame)."""
    per: dict[str, dict[str, Any]] = {s.prefix: {"layer": s.layer, "beats_per_frame": s.beats, "violations": 0,
                                                  "beats": 0, "frames": 0, "stall_cycles": 0, "max_stall": 0}
                                      for s in streams}
    messages: list[str] = []
    first = None
    for run in runs:
        res = results.get(run["id"])
        if res is None:
            continue
        clip = clip_of[run["id"]]
        for s, c in zip(streams, res["checks"]):
            e = per[s.prefix]
            n = c["errors"]
            found = []
            if n:
                found.append((CHECK_KINDS.get(c["first_kind"], f"kind {c['first_kind']}"), c["first_frame"],
                               c["first_beat"], n))
            if c["beats"] != run["frames"] * s.beats:
                found.append((f"{c['beats']} beats transferred, expected {run['frames']} frames x {s.beats}",
                              c["frames"], c["beats"] - c["frames"] * s.beats, 1))
            for kind, frame, beat, count in found:
                e["violations"] += count
                msg = (f"layer {s.layer} (stream {s.prefix}), clip {clip}, frame {frame}, beat {beat}: {kind}"
                       + (f" ({count} violations in this run)" if count > 1 else ""))
                messages.append(msg)
                if first is None:
                    first = {"layer": s.layer, "stream": s.prefix, "clip": clip, "frame": frame, "beat": beat,
                             "kind": kind, "message": msg}
            e["beats"] += c["beats"]
            e["frames"] += c["frames"]
            e["stall_cycles"] += c["stall_cycles"]
            e["max_stall"] = max(e["max_stall"], c["max_stall"])
    total = sum(e["violations"] for e in per.values())
    return {"streams": len(streams), "runs": len(results), "violations": total, "ok": total == 0 and bool(results),
            "first_violation": first, "messages": messages[:20],
            "checks": "per stream: tdata/tlast stable and tvalid held while tvalid && !tready; tlast exactly on "
                      "the last beat of every frame; beats per run = frames x beats per frame",
            "per_stream": per}


def _compare_layers(streams: list[Stream], traces: dict[str, list[str]], traced: dict[str, np.ndarray],
                    golden: GoldenModel, arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per layer: values compared and mismatches of clip 0's traced output stream vs the golden layer output.

    The recorded beats (beat, channel) go into ``arrays["layer_rtl/<name>"]``."""
    out = {}
    for i, s in enumerate(streams):
        if s.layer not in traced or not s.prefix.endswith("_out") or s.layer in out:
            continue
        words = traces.get(str(i), [])
        ref = traced[s.layer][0]  # (C, T, H, W)
        c, t, h, w = ref.shape
        spec = golden.ir.tensors[golden.ir.layer(s.layer).output]
        n = min(len(words), t * h * w)
        got = (np.stack([unpack_pixel(int(x, 16), c, spec.bits, spec.signed) for x in words[:n]]) if n
               else np.zeros((0, c), dtype=np.int64))
        want = ref.transpose(1, 2, 3, 0).reshape(-1, c)[:n]
        arrays[f"layer_rtl/{s.layer}"] = got
        bad = np.argwhere(got != want)
        entry = {"values_compared": int(got.size), "beats": len(words), "beats_expected": t * h * w,
                 "mismatches": int(len(bad)) + abs(t * h * w - len(words)) * c}
        if len(bad):
            beat, ch = (int(v) for v in bad[0])
            entry["first"] = {"frame": beat // (h * w), "pixel": beat % (h * w), "channel": ch,
                              "rtl": int(got[beat, ch]), "golden": int(want[beat, ch])}
        out[s.layer] = entry
    order = [l.name for l in golden.ir.layers if l.name in out]
    return {name: out[name] for name in order}


def _memory_mb(frames: int, beats: int, channels: int, jobs: int) -> float:
    """Memory a verification needs, in MB: its input frames (int16, plus the compacted copy and the hex text the
    simulators read, ~3 bytes a value in all) and one simulator process per job."""
    return frames * beats * channels * 3 / 1e6 + SIM_PROCESS_MB * jobs


def _estimate(frames: int, extra_frames: int, per_frame: int, sim: str, jobs: int, beats: int, channels: int,
              build_dir: Path) -> str:
    """One line: simulated cycles, time and memory a request implies (time from the last run when known)."""
    cycles = (frames + extra_frames) * per_frame
    rate, source = NOMINAL_CYCLES_PER_S[sim], "typical"
    # this design's last run, else the newest run of an earlier design in this build directory (moved to stale/)
    earlier = sorted((build_dir / "stale").glob("*/verification.json"), reverse=True)
    for path, what in [(build_dir / "verification.json", "this design's last run"),
                       *((p, "the last run of an earlier design in this build") for p in earlier)]:
        try:
            last = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if last.get("simulator") == sim and last.get("sim_cycles_per_second_in_simulator"):
            rate, source = float(last["sim_cycles_per_second_in_simulator"]), what
            break
    seconds = cycles / (rate * min(jobs, os.cpu_count() or 1))
    mem_mb = _memory_mb(frames, beats, channels, jobs)
    when = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    return (f"about {cycles:,} simulated cycles: ~{when} at {rate:,.0f} cycles/s per job ({source}), "
            f"~{mem_mb:,.0f} MB")


@sigterm_interrupts()  # `kill`/`timeout` stop the simulator processes like Ctrl-C does
def verify_build(build_dir: str | Path, frames: int = 30, sim: str = "verilator", clip_frames: int | None = None,
                 seed: int = 0, pause: float = 0.3, float_checkpoint: str | Path | None = None,
                 clips: np.ndarray | None = None, golden: GoldenModel | None = None,
                 trace_layers: bool = False, jobs: int = 1, progress: bool = False,
                 mem_latency: tuple[int, int] | None = None, mem_stall: float | None = None) -> dict[str, Any]:
    """Verify ``build_dir`` bit-exactly against its golden model; write verification.json/.npz; return the summary.

    ``frames`` in clips of ``clip_frames`` (default: up to 100; a reset before each clip; the frame count is
    rounded up to whole clips), ``pause``: the
    probability of an idle/back-pressure burst on each side, ``jobs`` simulator processes, ``progress``: print
    the estimate and show a progress bar. ``golden``: the golden model of the IR the build was generated from
    (default: the build's model.onnx). ``trace_layers``: also record every layer's output stream in the first
    run (no pauses) and compare it with the golden model's layer outputs (``summary["layers"]``,
    ``first_mismatching_layer``).
    A design with external memory (manifest ``external_memory``) runs on the HDL memory model: the timing run at
    the nominal latency without back-pressure, the others with a random latency in ``mem_latency`` (cycles;
    default 16 .. 2 x nominal) per burst and back-pressure with probability ``mem_stall`` (default ``pause``).
    """
    check_options(frames, sim, clip_frames, seed, pause, jobs)
    if float_checkpoint is not None and not Path(float_checkpoint).is_file():
        raise PleiadesError(f"--float-ckpt {float_checkpoint} does not exist; give a checkpoint file or leave the "
                            "option out (BUILD/float.pt is used when present)")
    build_dir = Path(build_dir)
    manifest = load_manifest(build_dir)
    ext = manifest.get("external_memory")
    nominal = int(ext["latency_cycles"]) if ext else 0
    lat_lo, lat_hi = mem_latency or ((min(16, nominal), 2 * nominal) if ext else (1, 1))
    stall = pause if mem_stall is None else mem_stall
    if not 1 <= lat_lo <= lat_hi < 1 << 16 or not 0 <= stall <= MAX_PAUSE:
        raise PleiadesError(f"memory latency {lat_lo}..{lat_hi} and stall {stall}: give 1 <= MIN <= MAX < 65536 "
                            f"cycles and a stall probability in [0, {MAX_PAUSE}]")
    # the results must be writable before minutes of simulation are spent on them
    check_output_dir(build_dir, "build directory", files={"verification.json": None, "verification.npz": None})
    inp, out = manifest["input"], manifest["output"]
    h, w, cin = inp["height"], inp["width"], inp["channels"]
    cap = max_clip_frames(manifest)
    if clips is not None:
        clips = np.asarray(clips, dtype=np.float32)
        if clips.ndim != 5 or clips.shape[1] != cin or clips.shape[3:] != (h, w) or clips.shape[2] < 1:
            raise PleiadesError(f"clips must have shape (N, {cin}, T, {h}, {w}) with T >= 1, got {clips.shape}")
        n_clips, t_len = clips.shape[0], clips.shape[2]
    else:
        t_len = clip_frames or min(frames, DEFAULT_CLIP_FRAMES)
        n_clips = max(1, -(-frames // t_len))
    if t_len > cap:
        raise PleiadesError(f"--clip-frames {t_len} is longer than the harness's frame memory holds for a "
                            f"{h}x{w} input ({cap} frames); use --clip-frames {cap} or less")
    if golden is None:
        onnx_path = build_dir / "model.onnx"
        if not onnx_path.is_file():
            raise PleiadesError(f"{build_dir} has no model.onnx (the build copies it there); rebuild the design")
        golden = GoldenModel.from_qonnx(onnx_path)
    ckpt = Path(float_checkpoint) if float_checkpoint else build_dir / "float.pt"
    if ckpt.is_file():  # a checkpoint of another network would give a meaningless agreement: refuse it now
        from pleiades_fpga.hw.build import check_float_checkpoint

        check_float_checkpoint(ckpt, golden.ir)
    bin_us = int(inp.get("bin_us") or golden.ir.metadata.get("bin_us") or 10_000)
    per_frame = int(manifest["cycles_per_frame"])
    reset_wait = int(manifest.get("reset_cycles", 0))
    n_frames = n_clips * t_len
    with_pause = pause > 0
    jobs = min(jobs, n_clips + with_pause)  # one simulator process per run at most
    need, have = _memory_mb(n_frames, h * w, cin, jobs), available_memory_mb()
    if have is not None and need > have:
        raise PleiadesError(f"this verification needs about {need:,.0f} MB ({jobs} simulator process(es) of "
                            f"~{SIM_PROCESS_MB} MB and {n_frames} frames of {h}x{w}x{cin}) but the machine has "
                            f"{have:,.0f} MB available; lower --jobs or --frames")
    if progress:
        print(f"{n_frames} frames in {n_clips} clip(s) of {t_len} on {sim} with {jobs} job(s): "
              + _estimate(n_frames, t_len if with_pause else 0, per_frame, sim, jobs, h * w, cin, build_dir),
              flush=True)

    t_wall = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pleiades-verify-") as tmp:
        tmp = Path(tmp)
        sources, streams = write_harness(build_dir, manifest, tmp)
        sources = rtl_sources(build_dir) + sources
        build_args = VERILATOR_ARGS if sim == "verilator" else ()
        if progress:
            print(f"building the harness on {sim} (cached after the first time) ...", flush=True)
        _, build_s, _ = build(HARNESS_TOP, sources, sim=sim, build_args=build_args)

        # inputs: one $readmemh file per clip; runs: clip 0 without pauses (timing), every clip with pauses
        ints = np.zeros((n_clips, cin, t_len, h, w), dtype=np.int16 if inp["bits"] <= 15 else np.int64)
        counts = []
        runs: list[dict[str, Any]] = []
        clip_of: dict[int, int] = {}
        timeout = lambda p: int((reset_wait + per_frame * (t_len + 4)) * 1.5 / (1 - p) ** 2) + 10_000  # noqa: E731
        for i in range(n_clips):
            clip = clips[i] if clips is not None else event_clip(i, h, w, bin_us, t_len, seed)
            counts.append(_compact(clip.astype(np.int64)))
            ints[i] = _input_ints(golden, clip)
            hexfile = write_frames_hex(tmp / f"clip{i}.hex", ints[i], inp["bits"], inp["signed"])
            for p in ((0.0, pause) if i == 0 and with_pause else (pause,)):
                rid = len(runs) + 1
                runs.append({"id": rid, "hex": str(hexfile), "frames": t_len, "pause": p,
                             "in_thresh": pause_threshold(p), "out_thresh": pause_threshold(p),
                             "in_seed": (seed * 7919 + 2 * rid + 1) & 0xFFFFFFFF,
                             "out_seed": (seed * 7919 + 2 * rid + 2) & 0xFFFFFFFF,
                             "trace": trace_layers and rid == 1, "timeout_cycles": timeout(p) * (3 if ext else 1),
                             "mem_seed": (seed * 7919 + 2 * rid + 3) & 0xFFFFFFFF,
                             "mem_lat_min": lat_lo if p else max(1, nominal),
                             "mem_lat_max": lat_hi if p else max(1, nominal),
                             "mem_stall": pause_threshold(stall) if p else 0})
                clip_of[rid] = i

        # simulate (worker processes) while the golden model runs here
        chunks = _chunks(runs, jobs)
        progress_files = [tmp / f"progress{k}.txt" for k in range(len(chunks))]
        total_frames = sum(r["frames"] for r in runs)
        expected = np.zeros((n_clips, out["channels"], t_len), dtype=np.int64)
        fl = np.zeros((n_clips, out["channels"], t_len)) if ckpt.is_file() else None
        if fl is not None:
            from pleiades_fpga.model import load_model

            float_model = load_model(ckpt)
        from tqdm import tqdm

        bar = tqdm(total=total_frames, unit="frame", desc=f"verify ({sim}, {len(chunks)} job(s))", disable=not progress)
        procs: list[subprocess.Popen] = []
        try:
            for k, chunk in enumerate(chunks):
                procs.append(_start_simulation({
                    "toplevel": HARNESS_TOP, "sources": [str(p) for p in sources], "test_module": TB_MODULE,
                    "sim": sim, "build_args": list(build_args), "seed": seed,
                    "plusargs": [f"+progress_file={progress_files[k]}"],   # one line per output frame
                    "vectors": {"runs": chunk, "checkers": len(streams), "memory": bool(ext)}},
                    tmp / f"result{k}.json"))
            for i in range(n_clips):
                clip = clips[i:i + 1] if clips is not None else counts[i][None].astype(np.float32)
                expected[i] = golden.run(clip)[0]
                if fl is not None:
                    fl[i] = float_logits(float_model, clip)[0]
                _advance(bar, progress_files)
            while any(p.poll() is None for p in procs):
                time.sleep(0.5)
                _advance(bar, progress_files)
            _advance(bar, progress_files)
            outcomes = [_finish_simulation(p, tmp / f"result{k}.json") for k, p in enumerate(procs)]
        finally:
            for p in procs:  # Ctrl-C, SIGTERM or an error: stop the simulator processes we started (and theirs)
                kill_group(p, signal.SIGTERM)
            bar.close()
        traced = golden.run(clips[:1] if clips is not None else counts[0][None].astype(np.float32),
                            trace=True)[1] if trace_layers else {}
    wall = time.monotonic() - t_wall

    # outputs and cycle stamps per run
    results: dict[int, dict[str, Any]] = {}
    outputs: dict[int, list[tuple[int, str]]] = {r["id"]: [] for r in runs}
    in_stamps: dict[int, list[int]] = {r["id"]: [] for r in runs}
    traces: dict[str, list[str]] = {}
    sim_cycles, run_seconds, loop_seconds, timed_out = 0, 0.0, 0.0, []
    for o in outcomes:
        res = o["results"]
        run_seconds += o["run_seconds"]
        loop_seconds += res.get("loop_seconds", 0.0)
        for r in res["runs"]:
            results[r["id"]] = r
            sim_cycles += r["cycles"]
            if r["timed_out"]:
                timed_out.append(clip_of[r["id"]])
        for rid, cyc, word in res["outputs"]:
            outputs[int(rid)].append((int(cyc), word))
        for rid, cyc in res["inputs"]:
            in_stamps[int(rid)].append(int(cyc))
        traces.update(res.get("traces", {}))
    classes, obits = out["channels"], out["bits"]
    rtl_bp = np.zeros_like(expected)
    rtl_np = np.zeros_like(expected[:1])
    missing = 0
    cycles_per_frame: list[float] = []
    latencies: list[float] = []
    for r in runs:
        i, beats = clip_of[r["id"]], outputs[r["id"]]
        got = np.zeros((classes, t_len), dtype=np.int64)
        for t, (_, word) in enumerate(beats[:t_len]):
            got[:, t] = unpack_pixel(int(word, 16), classes, obits, out["signed"])
        missing += max(0, t_len - len(beats)) * classes
        if r["pause"] == pause:
            rtl_bp[i] = got
        if r["pause"] == 0.0:
            rtl_np[0] = got
            ends = np.asarray([c for c, _ in beats[:t_len]], dtype=np.float64)
            starts = np.asarray(in_stamps[r["id"]][:len(ends)], dtype=np.float64)
            if len(ends) > 2:
                cycles_per_frame += np.diff(ends)[1:].tolist()
            latencies += (ends[:len(starts)] - starts).tolist()
    mismatch_bp = int(np.sum(rtl_bp != expected)) if with_pause else 0
    mismatch_np = int(np.sum(rtl_np != expected[:1])) if with_pause else int(np.sum(rtl_bp != expected))
    if not with_pause:
        rtl_np = rtl_bp
    checks = _stream_checks(streams, runs, results, clip_of)
    measured = float(np.median(cycles_per_frame)) if cycles_per_frame else None
    ideal = manifest.get("ideal_cycles_per_frame")
    run_desc = [f"clip 0 without pauses (timing)"] if with_pause else []
    run_desc.append(f"every clip with random idle bursts on the input and back-pressure on the output "
                    f"(p={pause}, bursts of 1-4 cycles)" if with_pause else "every clip without pauses")
    summary: dict[str, Any] = {
        HASH_KEY: design_hash(build_dir),
        "simulator": sim, "simulator_version": simulator_version(sim), "harness": "hdl (pleiades_fpga.sim.harness)",
        "frames": int(n_frames), "clips": int(n_clips), "frames_per_clip": int(t_len), "jobs": len(chunks),
        "pause": pause, "seed": seed, "runs": run_desc,
        "values_compared": int(expected.size + (expected[:1].size if with_pause else 0)),
        "mismatches": mismatch_np + mismatch_bp,
        "mismatches_no_backpressure": mismatch_np, "mismatches_backpressure": mismatch_bp,
        "missing_values": missing, "timed_out_clips": sorted(set(timed_out)),
        "bit_exact": mismatch_np + mismatch_bp == 0 and missing == 0,
        "stream_checks": checks,
        "nonzero_outputs": int(np.count_nonzero(expected)),
        "cycles_per_frame_measured": measured,
        "cycles_per_frame_analytic": per_frame,
        "cycles_per_frame_ratio": measured / per_frame if measured is not None and per_frame else None,
        "ideal_cycles_per_frame": ideal,
        "efficiency": ideal / measured if measured and ideal else None,
        "latency_cycles": float(np.median(latencies)) if latencies else None,
        "latency_cycles_max": float(np.max(latencies)) if latencies else None,
        "sim_cycles": sim_cycles, "sim_seconds": run_seconds, "build_seconds": build_s,
        "sim_cycles_per_second": sim_cycles / run_seconds if run_seconds else None,  # per simulator process
        "sim_cycles_per_second_in_simulator": sim_cycles / loop_seconds if loop_seconds else None,  # no start-up
        "sim_cycles_per_second_wall": sim_cycles / wall if wall else None,  # all jobs, golden model included
        "wall_seconds": wall, "temporal_wraps": {},
        "projection_saturations": dict(golden.saturation),
    }
    summary["external_memory"] = _memory_checks(runs, results, lat_lo, lat_hi, stall, nominal) if ext else None
    summary["passed"] = bool(summary["bit_exact"] and checks["ok"]
                             and (summary["external_memory"] is None or summary["external_memory"]["ok"]))
    arrays: dict[str, np.ndarray] = {}
    if trace_layers:
        summary["layers"] = _compare_layers(streams, traces, traced, golden, arrays)
        bad = [name for name, r in summary["layers"].items() if r["mismatches"]]
        summary["first_mismatching_layer"] = bad[0] if bad else None
    elif summary["mismatches"]:
        summary["hint"] = "re-run with --trace-layers to find the first layer whose output differs"
    for layer in manifest["layers"]:
        if layer.get("kind") in ("temporal_conv", "temporal_conv_external"):
            summary["temporal_wraps"][layer["name"]] = (t_len - 1) / max(1, layer["kernel"] - 1)
    golden_f = golden.dequantize(expected)
    arrays.update({"input_frames": _compact(ints), "input_counts": np.stack(counts),
                   "rtl_outputs": rtl_np, "rtl_outputs_backpressure": rtl_bp,
                   "golden_outputs": expected, "golden_logits": golden_f})
    if fl is not None:
        arrays["float_logits"] = fl
        err = np.abs(fl - golden_f)
        summary["float_model"] = {
            "checkpoint": str(ckpt),
            "argmax_agreement": float(np.mean(fl.argmax(1) == golden_f.argmax(1))),
            "max_abs_logit_error": float(err.max()), "mean_abs_logit_error": float(err.mean()),
        }
    else:
        summary["float_model"] = None
    write_json_atomic(build_dir / "verification.json", summary)
    write_npz_atomic(build_dir / "verification.npz", **arrays)
    return summary


def _memory_checks(runs: list[dict[str, Any]], results: dict[int, dict[str, Any]], lat_lo: int, lat_hi: int,
                   stall: float, nominal: int) -> dict[str, Any]:
    """The AXI memory model's counters summed over the runs: AXI rule violations, reads of never-written words and
    error responses must all be zero."""
    tot = {k: sum(int((results.get(r["id"], {}).get("memory") or {}).get(k, 0)) for r in runs)
           for k in ("read_beats", "write_beats", "errors", "unwritten_reads", "axi_error")}
    return {"model": "sim/hdl/axi_ram_model.v", "latency_cycles": [lat_lo, lat_hi], "stall": stall,
            "timing_run_latency_cycles": nominal, **tot,
            "ok": tot["errors"] == 0 and tot["unwritten_reads"] == 0 and tot["axi_error"] == 0}


def _advance(bar: Any, progress_files: list[Path]) -> None:
    """Move the progress bar to the frames the simulator processes report done (the harness appends one line per
    output frame to its ``+progress_file``)."""
    done = 0
    for pf in progress_files:
        try:
            done += sum(1 for line in pf.read_text().splitlines() if line.strip())
        except OSError:
            pass
    if done > bar.n:
        bar.update(done - bar.n)


__all__ = ["check_options", "event_clip", "event_clips", "float_logits", "verify_build"]
