"""Temporal memory of the default net: buffer mode vs recurrent mode, per layer, at K = 10 and K = 20.

K = 20 taps over the same 100 ms window = 5 ms bins (issue #6 bar: recurrent needs less temporal memory
there). For each quantization (w8a8 = the demo's deployment, and w4a4) the default preset is built with
K taps, calibrated on synthetic clips, exported to QONNX and read into the integer IR, so C, H x W and
b_x are the real ones. State widths b_s: from the recurrent export (QONNX PleiadesProjection read by
ir.reader) when the model side provides it ("build"), else by analysis on the LegT reference
recurrence ("analysis"). Crossover K* per layer: smallest K with (K-1) b_x > D b_s.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import write_result


def _ir(kernel_size: int, quant: str, tmp: Path, temporal: str = "buffer"):
    import torch

    from pleiades_fpga.data import load_clips
    from pleiades_fpga.ir.reader import read_qonnx
    from pleiades_fpga.model import get_preset
    from pleiades_fpga.quant import build_quant_model, calibrate, export_model

    torch.manual_seed(0)
    cfg = get_preset("default")
    cfg = cfg.replace(kernel_size=kernel_size, bin_us=cfg.bin_us * cfg.kernel_size // kernel_size)
    if temporal != "buffer":
        cfg = cfg.replace(temporal=temporal)
    model = build_quant_model(cfg, quant)
    clips = load_clips("synthetic", "train", 32, 8, 0, None, progress=False).frames(cfg.bin_us).float()
    calibrate(model, clips[:, :, : 3 * kernel_size])
    path = export_model(model.eval(), tmp / f"{quant}_{kernel_size}_{temporal}.onnx", frames=kernel_size + 4)
    return read_qonnx(path)


def _totals(rows: list[dict]) -> dict:
    buf = sum(r["buffer_bits"] or 0 for r in rows)
    st = sum(r["state_memory_bits"] or 0 for r in rows)
    return {"buffer_bits": buf, "state_bits": st, "recurrent_over_buffer": st / buf if buf else None,
            "recurrent_wins": st < buf}


def main() -> dict:
    from pleiades_fpga.report.temporal_memory import temporal_memory_ir

    result: dict = {"window_ms": 100, "state_dim": 5, "configs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for quant in ("w8a8", "w4a4"):
            for k in (10, 20):
                key = f"{quant}_K{k}"
                rows = temporal_memory_ir(_ir(k, quant, tmp))
                entry = {"kernel_size": k, "bin_ms": 100 / k, "quant": quant, "layers": rows,
                         "total_analysis": _totals(rows)}
                try:  # real state widths from the recurrent export (model side, issue #6)
                    rec = temporal_memory_ir(_ir(k, quant, tmp, "recurrent"))
                    if not rec or any(r["mode"] != "recurrent" for r in rec):
                        raise RuntimeError("the recurrent export has no projection layers")
                    for r, b in zip(rec, rows):
                        r["kernel_size"] = r["kernel_size"] or k
                        r["buffer_bits"] = b["buffer_bits"]
                        r["recurrent_wins"] = r["state_memory_bits"] < b["buffer_bits"]
                    entry["layers_recurrent_export"] = rec
                    entry["total_build"] = _totals(rec)
                except Exception as exc:  # noqa: BLE001 - recorded: the model side may not export yet
                    entry["recurrent_export"] = f"not available: {type(exc).__name__}: {exc}"
                result["configs"][key] = entry
                t = entry.get("total_build") or entry["total_analysis"]
                ks = [r["crossover_k"] for r in entry.get("layers_recurrent_export", rows)]
                print(f"{key}: buffer {t['buffer_bits']:,} bits, recurrent {t['state_bits']:,} bits "
                      f"({t['recurrent_over_buffer']:.2f}x), K* {ks}", flush=True)
    k20 = result["configs"]["w8a8_K20"]
    t = k20.get("total_build") or k20["total_analysis"]
    result["bar_k20_recurrent_less_memory"] = bool(t["recurrent_wins"])
    write_result("recurrent_memory", result)
    return result


if __name__ == "__main__":
    main()
