"""Self-contained report.html: summary tables and PNG plots (matplotlib Agg) embedded as base64."""
from __future__ import annotations

import base64
import html
import io


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def plot_layer_resources(report: dict) -> str:
    """Bar chart of estimated (and synthesized, when known) LUT/FF/DSP/BRAM per layer; PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    layers = report["layers"]
    names = [l["name"] for l in layers]
    keys = ["lut", "ff", "dsp", "bram_bits"]
    fig, axes = plt.subplots(1, 4, figsize=(14, max(2.5, 0.35 * len(names) + 1)))
    y = np.arange(len(names))
    for ax, key in zip(axes, keys):
        est = [l["estimate"][key] for l in layers]
        ax.barh(y - 0.2, est, height=0.4, label="estimate")
        syn = [(l["synth"] or {}).get(key) for l in layers]
        if any(v is not None for v in syn):
            ax.barh(y + 0.2, [v or 0 for v in syn], height=0.4, label="synthesis")
        ax.set_yticks(y, names if key == "lut" else [""] * len(names))
        ax.invert_yaxis()
        ax.set_title(key.upper())
    axes[0].legend(fontsize=7)
    fig.suptitle("Resources per layer", y=1.04)
    return _png(fig)


def plot_layer_cycles(report: dict) -> str:
    """Cycles per frame of every layer against the real-time budget at fmax; PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report["layers"]
    names = [l["name"] for l in layers]
    cycles = [l["cycles_per_frame"] for l in layers]
    budget = report["fmax_mhz"] * 1e6 / report["required_fps"]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(names) + 1)))
    colors = ["tab:red" if c > budget else "tab:blue" for c in cycles]
    ax.barh(names, cycles, color=colors)
    ax.axvline(budget, color="k", ls="--", label=f"budget {budget:,.0f} cycles/frame at {report['fmax_mhz']:.1f} MHz")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(left=1)
    ax.set_xlabel("cycles per frame (log scale)")
    ax.legend(fontsize=8)
    return _png(fig)


def plot_memory(report: dict) -> str:
    """Memory per kind: raw bits and block-RAM bits after aspect-ratio mapping; PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    mem = report["memory"]
    kinds = list(mem) or ["none"]
    raw = [mem[k]["bits"] / 1024 for k in mem] or [0]
    bram = [mem[k]["bram_bits"] / 1024 for k in mem] or [0]
    x = np.arange(len(kinds))
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(x - 0.2, raw, width=0.4, label="bits")
    ax.bar(x + 0.2, bram, width=0.4, label="block RAM bits (mapped)")
    ax.axhline(report["available"]["bram_bits"] / 1024, color="k", ls="--", label="part block RAM")
    ax.set_xticks(x, kinds)
    ax.set_ylabel("kbit")
    ax.legend(fontsize=8)
    return _png(fig)


def plot_temporal_memory(rows: list[dict]) -> str:
    """Per temporal layer: buffer-mode bits vs recurrent-mode state bits (real widths); PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(x - 0.2, [(r["buffer_bits"] or 0) / 1024 for r in rows], width=0.4, label="buffer (K-1 frames)")
    ax.bar(x + 0.2, [(r["state_memory_bits"] or 0) / 1024 for r in rows], width=0.4, label="recurrent (D states)")
    ax.set_xticks(x, [f"{r['layer']}\nK={r['kernel_size']}" for r in rows], fontsize=7)
    ax.set_ylabel("kbit")
    ax.legend(fontsize=8)
    return _png(fig)


def _temporal_memory_html(rows: list[dict]) -> str:
    if not rows:
        return ""
    table = _table([[r["layer"], r["mode"], r["kernel_size"], r["channels"], r["pixels"], r["in_bits"],
                     r["buffer_bits"], r["state_dim"], r["state_bits"], r["state_bits_source"], r["state_memory_bits"],
                     {True: "recurrent", False: "buffer", None: ""}[r["recurrent_wins"]], r["crossover_k"]]
                    for r in rows],
                   ["layer", "mode", "K", "C", "pixels", "b_x", "buffer bits", "D", "b_s", "b_s from",
                    "state bits", "less memory", "crossover K*"])
    return (f"<h2>Temporal memory (buffer vs recurrent)</h2>{table}<p>buffer = (K-1) C H W b_x, "
            f"state = D C H W b_s; recurrent needs less memory from K* on.</p>"
            f"<img src='{plot_temporal_memory(rows)}' alt='temporal memory'>")


def plot_accuracy_latency(points: list[dict], hw_latency_ms: float | None = None) -> str:
    """Accuracy against latency (ms, else frames) of the model; with ``hw_latency_ms`` also the time at which the
    hardware's logits for that frame are out (frame time + the design's latency); PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "latency_ms" if all("latency_ms" in p for p in points) else "latency_frames"
    pts = sorted(points, key=lambda p: p.get(key, 0))
    x = [p.get(key, 0) for p in pts]
    acc = [p["accuracy"] for p in pts]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(x, acc, marker="o", ms=3, label="model (end of frame)")
    if hw_latency_ms is not None and key == "latency_ms":
        ax.plot([v + hw_latency_ms for v in x], acc, ls="--", label=f"+ hardware latency {hw_latency_ms:.3f} ms")
        ax.legend(fontsize=8)
    ax.set_xlabel("time after the clip start (ms)" if key == "latency_ms" else "frames after the clip start")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    return _png(fig)


def _table(rows: list[list], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


def _fmax_label(source: str) -> str:
    return "placed and routed: nextpnr" if source == "place-and-route" else source


def _outreg_html(synth: dict | None) -> str:
    """ECP5: how many block-RAM read ports took their output register (toolflow.bram_outreg)."""
    outreg = (synth or {}).get("bram_outreg")
    if not outreg:
        return ""
    left = "; ".join(f"{n} left with the latch: {why}" for why, n in outreg["left"].items())
    return (f"<p>Block-RAM output registers (between Yosys and nextpnr): {outreg['ports']:,} read ports use their "
            f"output register, taking {outreg['flip_flops']:,} fabric flip-flops into the block RAMs (the flip-flop "
            f"count above is Yosys's, before that move){html.escape('; ' + left) if left else ''}.</p>")


def _seeds(pnr: dict | None) -> str:
    """Which of several place-and-route seeds the figures come from (every seed's fmax)."""
    seeds = (pnr or {}).get("seeds") or {}
    by_seed = seeds.get("fmax_by_seed") or {}
    if len(by_seed) < 2:
        return ""
    every = ", ".join(f"{s}: {f:.2f}" if f is not None else f"{s}: none" for s, f in by_seed.items())
    return html.escape(f" [the best of {len(by_seed)} nextpnr seeds: seed {seeds['chosen']}; fmax by seed {every} MHz]")


def _other_estimate(r: dict) -> str:
    """The fmax model's estimate next to a placed-and-routed or requested clock (it is the headline otherwise)."""
    est = r.get("fmax_estimate")
    if not est or r.get("fmax_kind") == "estimate":
        return ""
    crit = est.get("critical_path") or {}
    return html.escape(f" [fmax model estimate {est['fmax_mhz']:.1f} MHz, slowest stage {crit.get('layer')}: "
                       f"{crit.get('stage')}]")


def _finn_section(c: dict) -> str:
    """FINN backend (finn/comparison.json): FINN's estimates vs ours per segment, the temporal layers (ours)."""
    rows = []
    for r in c["segments"]:
        f, o, fn = r.get("finn") or {}, r["ours"], r["functional"]
        d = r.get("finn_dsp_multipliers") or {}
        rows.append([r["segment"], ", ".join(r["layers"]), f.get("lut", "failed"), o["lut"], f.get("dsp", "-"), o["dsp"],
                     f"{d.get('lut', '-')} / {d.get('dsp', '-')}",
                     f.get("bram18", "-"), o["bram18"], f.get("cycles_per_frame", "-"), o["cycles_per_frame"],
                     "yes" if fn.get("exact") else f"no ({fn.get('hw_layers_mismatches', '-')} of {fn.get('values', '-')})"])
    for t in c["temporal_layers"] + c.get("glue_layers", []):
        what = "pleiades RTL (no FINN op)" if t in c["temporal_layers"] else "pleiades RTL (stream fork)"
        rows.append([t["layer"], what, "-", t["lut"], "-", t["dsp"], "-", "-", t["bram18"], "-", t["cycles_per_frame"], "-"])
    tot = c["totals"]
    net = c.get("network") or {}
    view = net.get("finn_view")
    net_html = (f"<p>Whole network as one FINN graph (temporal layers as our FINN custom op "
                f"<code>PleiadesTemporalConv_rtl</code>): {view['lut']:,} LUT, {view['dsp']} DSP, {view['bram18']:g} BRAM18, "
                f"slowest node {html.escape(str(view['max_cycles_node_name']))} ({view['max_cycles']:,} cycles/frame); "
                f"FINN's Python run from reset equals the golden logits: {net.get('exact')} ({net.get('frames')} frames)."
                "</p>") if view else ""
    return (f"<h2>FINN backend (FINN+ {html.escape(str(c.get('finn_version')))}, {html.escape(c['fpga_part'])})</h2>"
            "<p>Per-frame segments converted by FINN (estimates folded for the same cycles/frame target, "
            f"{c.get('target_cycles_per_frame')}); temporal layers stay in our RTL. Split design: "
            f"{tot['split_design']['lut']:,.0f} LUT, {tot['split_design']['dsp']} DSP, {tot['split_design']['bram18']:g} "
            f"BRAM18; all ours: {tot['all_ours']['lut']:,.0f} LUT, {tot['all_ours']['dsp']} DSP, "
            f"{tot['all_ours']['bram18']:g} BRAM18.</p>"
            + _table(rows, ["unit", "layers", "FINN LUT", "ours LUT", "FINN DSP", "ours DSP",
                            "FINN LUT / DSP with DSP multipliers", "FINN BRAM18",
                            "ours BRAM18", "FINN cycles", "ours cycles", "FINN exec == golden"]) + net_html)


def _verification_html(ver: dict | None, analytic: dict | None = None) -> str:
    """The verification the report used, as a table (measured in simulation vs analytic), or why there is none."""
    if ver is None:
        return "<p class='bad'>NOT VERIFIED: no verification.json (run <code>pleiades-fpga verify BUILD</code>)</p>"
    if ver.get("status") != "current":
        return (f"<p class='bad'>NOT VERIFIED ({html.escape(str(ver.get('status')))}): "
                f"{html.escape(str(ver.get('message')))}</p>")
    analytic = analytic or {}
    checks = ver.get("stream_checks") if isinstance(ver.get("stream_checks"), dict) else {}
    first = checks.get("first_violation")
    pause = ver.get("pause")
    rows = [
        ["result", ver.get("verdict"), ""],
        ["simulator", f"{ver.get('simulator')} {ver.get('simulator_version') or ''}".strip(), ""],
        ["values compared", ver.get("values_compared"), ""],
        ["mismatches (total)", ver.get("mismatches"), "0"],
        ["mismatches without / with back-pressure",
         f"{_fmt(ver.get('mismatches_no_backpressure'))} / {_fmt(ver.get('mismatches_backpressure'))}", "0 / 0"],
        ["frames (clips x frames per clip)", f"{_fmt(ver.get('frames'))} ({_fmt(ver.get('clips'))} x "
                                             f"{_fmt(ver.get('frames_per_clip'))})", ""],
        ["back-pressure", (f"pause probability {_fmt(pause)} (idle bursts of 1-4 cycles on the input, tready low on "
                           f"the output), seed {_fmt(ver.get('seed'))}" if pause is not None else ""), ""],
        ["back-pressure runs", "; ".join(map(str, ver.get("runs") or [])), ""],
        ["stream-check violations", (f"{_fmt(checks.get('violations'))} ({_fmt(checks.get('streams'))} streams, "
                                     f"{_fmt(checks.get('runs'))} runs)" + (f"; first: {first}" if first else "")),
         "0"],
        ["cycles per frame", _fmt(ver.get("cycles_per_frame_measured")),
         _fmt(ver.get("cycles_per_frame_analytic", analytic.get("cycles_per_frame")))],
        ["latency (cycles, median / max)", f"{_fmt(ver.get('latency_cycles'))} / {_fmt(ver.get('latency_cycles_max'))}",
         _fmt(analytic.get("latency_cycles"))],
    ]
    fm = ver.get("float_model")
    if isinstance(fm, dict):
        rows.append(["float model argmax agreement", fm.get("argmax_agreement"), ""])
    if ver.get("first_mismatching_layer"):
        rows.append(["first mismatching layer", ver["first_mismatching_layer"], ""])
    return ("<p>Measured in simulation (cocotb, RTL against the integer golden model) for this design "
            f"(design hash {html.escape(str(ver.get('design_hash')))}); analytic = manifest (cycle model), "
            "expected for the checks.</p>" + _table(rows, ["", "measured", "analytic / expected"]))


def _external_memory_html(ext: dict | None) -> str:
    """The external memory section: per-layer and total traffic against the board memory (estimated bandwidth)."""
    if not ext:
        return ""
    rows = [[l["layer"], l.get("kind", "circular_buffer"), l["read_bytes_per_frame"], l["write_bytes_per_frame"],
             l["bytes_per_frame"], f"{l['mb_s_required']:,.2f}", f"{l['mb_s_achieved']:,.2f}"] for l in ext["layers"]]
    rows.append(["total", "", sum(l["read_bytes_per_frame"] for l in ext["layers"]),
                 sum(l["write_bytes_per_frame"] for l in ext["layers"]), ext["bytes_per_frame"],
                 f"{ext['mb_s_required']:,.2f}", f"{ext['mb_s_achieved']:,.2f}"])
    mem = ext.get("memory")
    board = (f"{html.escape(mem['board'])}: {html.escape(mem['kind'])}, {_fmt(ext['usable_mb_s'])} MB/s usable "
             f"({html.escape(mem['source'])})" if mem else "no board memory known for this part")
    fps_mem = f"; the memory sustains {ext['fps_memory']:,.1f} frames/s" if ext.get("fps_memory") else ""
    return (f"<h2>External memory (estimated bandwidth)</h2>"
            + _table(rows, ["layer", "buffer", "read bytes/frame", "written bytes/frame", "bytes/frame",
                            f"MB/s at {ext['fps_required']:,.1f} frames/s (required)",
                            f"MB/s at {ext['fps_achieved']:,.1f} frames/s (achieved)"])
            + f"<p>Verdict: <b>{html.escape(ext['verdict'])}</b>{fps_mem}. Board memory: {board}. Traffic: bytes on "
              f"the AXI bus per frame (circular buffer: K-1 history frames read, 1 written; GroupNorm frame buffer and "
              f"skip FIFO: 1 frame each way; pixels padded to whole beats), estimated "
              f"bandwidth.</p>")


def _timing_html(pnr: dict | None) -> str:
    """The slow endpoints of place and route (nextpnr_timing.json), grouped by hierarchy: every class of path that
    limits fmax, not only the worst one the log names."""
    t = (pnr or {}).get("timing")
    if not t:
        return ""
    rows = [[g["layer"] or "(board wrapper / glue)", g["where"], g["endpoints"], g["worst_ns"], g["driver"]]
            for g in t["groups"][:40]]
    met = t["fmax_mhz"] is not None and t["fmax_mhz"] >= t["target_mhz"]
    what = (f"within 5 % of the achieved period (arrival over {t['threshold_ns']:.3f} ns)" if met
            else f"failing the {t['target_mhz']:g} MHz constraint (arrival over {t['threshold_ns']:.3f} ns)")
    more = f"; the {len(t['groups']) - 40} further groups are in nextpnr_timing.json" if len(t["groups"]) > 40 else ""
    return (f"<h2>Timing (placed and routed: nextpnr)</h2><p>{t['endpoints_over']:,} of {t['endpoints_total']:,} "
            f"clocked endpoints {html.escape(what)}; worst arrival {t['worst_ns']:.3f} ns{html.escape(more)}.</p>"
            + _table(rows, ["layer", "endpoint hierarchy", "endpoints", "worst arrival (ns)", "example driver"]))


def render_html(report: dict) -> str:
    """The whole report page (no external files)."""
    r = report
    ok = r["realtime"]
    res_rows = [[k, r["resources"][k], r["available"][k], r["utilization_percent"][k], r["estimate"].get(k),
                 (r["estimate_over_synth"] or {}).get(k)] for k in ("lut", "ff", "dsp", "bram_bits")]
    layer_rows = [[l["name"], l["kind"], l["pe"], l["simd"], l["macs_per_frame"], l["multipliers"],
                   l["cycles_per_frame"], l["memory_bits"], l["estimate"]["lut"], l["estimate"]["dsp"],
                   l["estimate"]["bram_bits"], (l["synth"] or {}).get("lut")] for l in r["layers"]]
    plots = [("Resources per layer", plot_layer_resources(r)), ("Cycles per layer", plot_layer_cycles(r)),
             ("Memory", plot_memory(r))]
    acc_html = ""
    if r.get("accuracy_vs_latency"):
        pts = r["accuracy_vs_latency"]
        plots.append(("Accuracy vs latency", plot_accuracy_latency(pts, r["latency_us"] / 1000)))
        acc_html = (f"<p>Accuracy vs latency: {html.escape(str(pts[0].get('source') or 'metrics.json of the build'))}; "
                    f"the dashed line adds the design's latency ({html.escape(r['latency_source'])}, at "
                    f"{r['fmax_mhz']:.1f} MHz).</p>")
    ver_html = _verification_html(r.get("verification"), r.get("analytic"))
    res_source = {"synthesis": "Yosys synthesis", "estimate": "analytic estimate"}.get(r["resources_source"],
                                                                                       r["resources_source"])
    finn_html = _finn_section(r["finn"]) if r.get("finn") else ""
    advice = "".join(f"<li>{html.escape(a)}</li>" for a in r["advice"])
    imgs = "".join(f"<h3>{html.escape(t)}</h3><img src='{src}' alt='{html.escape(t)}'>" for t, src in plots)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pleiades-fpga report: {html.escape(str(r['name']))}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} .ok{{color:#070}} .bad{{color:#b00}}
img{{max-width:100%}}</style></head><body>
<h1>{html.escape(str(r['name']))} on {html.escape(r['target'])}</h1>
<h2 class="{'ok' if ok else 'bad'}">{html.escape(r['verdict'])}</h2>
<ul>{advice}</ul>
<p>fmax {r['fmax_mhz']:.2f} MHz ({html.escape(_fmax_label(r['fmax_source']))}){_seeds(r.get('pnr'))}{_other_estimate(r)};
{r['cycles_per_frame']:,} cycles/frame ({html.escape(r.get('cycles_source', 'analytic (manifest)'))});
latency {r['latency_cycles']:,} cycles = {r['latency_us']:,.1f} us ({html.escape(r['latency_source'])});
{r['frames_per_second']:,.1f} frames/s at that clock
(need {r['required_fps']:,.1f} for {r['bin_us'] / 1000:g} ms bins); {r['macs_per_frame']:,} MACs/frame,
{r['multipliers']:,} multipliers. Design hash {html.escape(str(r.get('design_hash')))}.</p>
<p class="{'ok' if r.get('verified') else 'bad'}">{'verified bit-exact in simulation' if r.get('verified')
                                                    else 'NOT verified bit-exact for this design'}
(see Verification).</p>
<h2>Resources ({html.escape(res_source)})</h2>
{_table(res_rows, ['resource', f'used ({res_source})', 'available', '%', 'analytic estimate',
                   'estimate / Yosys synthesis'])}
{_outreg_html(r.get("synth"))}
<h2>Layers</h2>
{_table(layer_rows, ['layer', 'kind', 'PE', 'SIMD', 'MACs/frame', 'mults', 'cycles/frame (analytic)', 'memory bits',
                     'LUT estimate', 'DSP estimate', 'BRAM bits estimate',
                     'LUT (Yosys)'])}
{_timing_html(r.get("pnr"))}
{_temporal_memory_html(r.get("temporal_memory") or [])}
{_external_memory_html(r.get("external_memory"))}
<h2>Verification (measured in simulation)</h2>{ver_html}
{finn_html}
<h2>Plots</h2>{acc_html}{imgs}
</body></html>
"""
