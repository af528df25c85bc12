"""Real-time check: frames per second at fmax against the frame rate the bin size needs, with advice."""
from __future__ import annotations

import math


def realtime_check(layers: list[dict], cycles_per_frame: int, fmax_mhz: float, bin_us: float,
                   memory_overflow: bool = False, clock_label: str | None = None) -> dict:
    """Verdict for a design that needs ``cycles_per_frame`` cycles per frame at ``fmax_mhz``; ``clock_label`` says
    in the verdict where that clock comes from (placed and routed, estimate, assumed).

    frames/s = fmax / cycles_per_frame; required = 1e6 / bin_us (10 ms bins need 100 frames/s).
    When it fails, the advice names the slowest layer and the folding factor it needs, the
    resolution change that would suffice, and the recurrent temporal mode for memory-bound designs.
    """
    if cycles_per_frame <= 0 or fmax_mhz <= 0 or bin_us <= 0:
        raise ValueError(f"need positive cycles_per_frame, fmax and bin size, got "
                         f"{cycles_per_frame}, {fmax_mhz}, {bin_us}")
    fps = fmax_mhz * 1e6 / cycles_per_frame
    required = 1e6 / bin_us
    ok = fps >= required
    slowest = max(layers, key=lambda l: int(l.get("cycles_per_frame", 0)), default=None)
    advice: list[str] = []
    if not ok:
        factor = required / fps
        if slowest is not None:
            pe, simd = int(slowest.get("pe", 1) or 1), int(slowest.get("simd", 1) or 1)
            advice.append(
                f"unfold the slowest layer '{slowest.get('name')}' ({int(slowest.get('cycles_per_frame', 0)):,} "
                f"cycles/frame, PE={pe}, SIMD={simd}) by at least {factor:.2f}x (e.g. PE*SIMD from {pe * simd} "
                f"to {math.ceil(pe * simd * factor)}); repeat for the next-slowest layers above "
                f"{int(fmax_mhz * 1e6 / required):,} cycles/frame"
            )
        advice.append(
            f"or lower the input resolution: cycles scale with pixels, so divide height and width by "
            f"{math.sqrt(factor):.2f} or more"
        )
        advice.append(
            f"or raise the clock: the design needs {fmax_mhz * factor:.1f} MHz at the current folding"
        )
        advice.append(f"or use larger time bins: {bin_us * factor / 1000:.2f} ms or more per frame")
    if memory_overflow:
        advice.append(
            "memory does not fit: use the recurrent temporal mode (N+1 polynomial states per channel and "
            "pixel instead of a K-1 frame circular buffer), fewer channels or a lower resolution"
        )
    margin = fps / required
    at = f" at {fmax_mhz:,.1f} MHz ({clock_label})" if clock_label else ""
    verdict = (f"REAL-TIME: {fps:,.1f} frames/s{at} >= {required:,.1f} required ({margin:.2f}x margin)" if ok else
               f"NOT REAL-TIME: {fps:,.1f} frames/s{at} < {required:,.1f} required ({margin:.2f}x)")
    return {"frames_per_second": fps, "required_fps": required, "realtime": ok, "margin": margin,
            "slowest_layer": slowest.get("name") if slowest else None, "verdict": verdict, "advice": advice}


def external_memory_check(manifest: dict, part_name: str, fps_required: float, fps_achieved: float) -> dict | None:
    """External traffic of a design with external temporal buffers (manifest ``memory_plan``) against the usable
    bandwidth of the board memory of ``part_name`` (``hw.rtl.memory_plan.bandwidth``; figures estimated), with
    ``fps_memory``: the frame rate the memory sustains (None without a board memory). None without external
    buffers."""
    from pleiades_fpga.errors import PleiadesError
    from pleiades_fpga.hw.rtl.memory_plan import bandwidth
    from pleiades_fpga.toolflow.parts import board_memory

    plan = manifest.get("memory_plan")
    if not manifest.get("external_memory") or not plan:
        return None
    try:
        memory = board_memory(part_name)
    except PleiadesError:
        memory = None
    bw = bandwidth(plan, fps_required=fps_required, fps_achieved=fps_achieved, memory=memory)
    bw["fps_memory"] = (bw["usable_mb_s"] * 1e6 / bw["bytes_per_frame"]
                        if bw["usable_mb_s"] and bw["bytes_per_frame"] else None)
    return bw
