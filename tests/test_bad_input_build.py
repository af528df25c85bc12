"""Bad input to build / report / synth: options, folding JSON, build directories. Every case must end in a clear
error (naming what is wrong) before any work, and must not create or change the output directory."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pleiades_fpga.cli import main
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.build import build_rtl
from pleiades_fpga.ir.reader import read_qonnx
from pleiades_fpga.hw.rtl.folding import Fold, candidate_folds, load_folding
from small_qonnx import small_qonnx


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(model.onnx, a finished build directory of it)."""
    tmp = tmp_path_factory.mktemp("bad_input")
    model = small_qonnx(tmp / "small.onnx")
    build_rtl(model, tmp / "build", max_multipliers=40)
    return model, tmp / "build"


def run_cli(capsys, *argv) -> tuple[int, str]:
    """Exit code and stderr of the CLI; a parse-time rejection (argparse) counts as exit code 2."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


BAD_BUILD_OPTIONS = [
    (["--clock-mhz", "0"], "--clock-mhz.*out of range"),
    (["--clock-mhz", "-5"], "--clock-mhz.*out of range"),
    (["--clock-mhz", "nan"], "--clock-mhz.*not a finite number"),
    (["--clock-mhz", "inf"], "--clock-mhz.*not a finite number"),
    (["--clock-mhz", "1e9"], "--clock-mhz.*out of range"),
    (["--clock-mhz", "fast"], "--clock-mhz.*not a number"),
    (["--target-fps", "0", "--clock-mhz", "50"], "--target-fps.*out of range"),
    (["--target-fps", "nan", "--clock-mhz", "50"], "--target-fps.*not a finite number"),
    (["--target-fps", "-30", "--clock-mhz", "50"], "--target-fps.*out of range"),
    (["--max-multipliers", "0"], "--max-multipliers.*out of range"),
    (["--max-multipliers", "-3"], "--max-multipliers.*out of range"),
    (["--max-multipliers", "2.5"], "--max-multipliers.*not an integer"),
    (["--target", "xc9999"], "--target.*unknown target part 'xc9999'.*LFE5U-85F"),
    (["--target-fps", "100"], "--target-fps needs --clock-mhz"),
    (["--folding", "FOLDING", "--max-multipliers", "10"], "cannot be combined with --target-fps or --max-multipliers"),
    (["--folding", "FOLDING", "--target-fps", "10", "--clock-mhz", "50"], "cannot be combined"),
    (["--backend", "hls4ml", "--max-multipliers", "10"], "--max-multipliers do.*not apply to --backend hls4ml"),
    (["--backend", "hls4ml", "--folding", "FOLDING", "--target", "xc7z020"],
     "--folding, --target do.*not apply to --backend hls4ml"),
    (["--folding", "MISSING"], "folding config .*missing.json does not exist"),
    (["--max-multipliers", "1"], "needs at least .* multipliers.*--max-multipliers 1 is too small"),
]


@pytest.mark.parametrize("opts,message", BAD_BUILD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_BUILD_OPTIONS])
def test_bad_build_options_are_refused_before_work(built, tmp_path, capsys, opts, message):
    model, build = built
    opts = [{"FOLDING": build / "folding.json", "MISSING": tmp_path / "missing.json"}.get(o, o) for o in opts]
    out = tmp_path / "out"
    rc, err = run_cli(capsys, "build", model, "--out", out, *opts)
    assert rc == 2
    assert re.search(message, err), err
    assert not out.exists()


def test_build_refuses_a_directory_that_holds_no_build(built, tmp_path, capsys):
    """A training directory (or the rtl/ of another build) is not a build directory: nothing is mixed into it."""
    model, build = built
    train_dir = tmp_path / "runs"
    train_dir.mkdir()
    (train_dir / "checkpoint.pt").write_bytes(b"ckpt")
    (train_dir / "metrics.json").write_text("{}")
    before = sorted(p.name for p in train_dir.iterdir())
    rc, err = run_cli(capsys, "build", model, "--out", train_dir)
    assert rc == 2 and "is not a build directory (it holds checkpoint.pt, metrics.json)" in err, err
    assert sorted(p.name for p in train_dir.iterdir()) == before
    rc, err = run_cli(capsys, "build", model, "--out", build / "rtl")
    assert rc == 2 and "is not a build directory" in err, err


def test_build_into_a_file_or_from_a_directory(built, tmp_path, capsys):
    model, _ = built
    target = tmp_path / "a_file"
    target.write_text("keep me")
    rc, err = run_cli(capsys, "build", model, "--out", target)
    assert rc == 2 and "is a file; pass a directory with --out" in err and target.read_text() == "keep me"
    rc, err = run_cli(capsys, "build", tmp_path, "--out", tmp_path / "o")
    assert rc == 2 and "is a directory, not a file" in err and not (tmp_path / "o").exists()
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    rc, err = run_cli(capsys, "build", empty, "--out", tmp_path / "o")
    assert rc == 2 and "empty.onnx is empty" in err and not (tmp_path / "o").exists()


BAD_REPORT_OPTIONS = [
    (["--clock-mhz", "nan"], "--clock-mhz.*not a finite number"),
    (["--clock-mhz", "0"], "--clock-mhz.*out of range"),
    (["--target", "bogus"], "--target.*unknown target part 'bogus'"),
    (["--reuse", "--synth"], "--reuse reads earlier results; it cannot be combined"),
    (["--reuse", "--clock-mhz", "50"], "--reuse reads earlier results; it cannot be combined"),
    (["--target", "xc7z020", "--pnr"], "place and route runs for ECP5 parts only"),
    (["--target", "lfe5u-25f", "--bitstream"], "no board wrapper for LFE5U-25F"),
    (["--reuse"], "--reuse: no synthesis results"),
]


@pytest.mark.parametrize("opts,message", BAD_REPORT_OPTIONS, ids=[" ".join(o) for o, _ in BAD_REPORT_OPTIONS])
def test_bad_report_options_are_refused(built, tmp_path, capsys, opts, message):
    _, build = built
    copy = tmp_path / "b"
    shutil.copytree(build, copy)
    rc, err = run_cli(capsys, "report", copy, *opts)
    assert rc == 2 and re.search(message, err), err
    assert not (copy / "report.json").exists() and not (copy / "synth").exists()


def test_synth_options_and_clock_out_of_range_before_synthesis(built, tmp_path, capsys, monkeypatch):
    import pleiades_fpga.report.flow as flow

    def no_tools(*args, **kwargs):
        raise AssertionError("a tool ran although the request was invalid")

    monkeypatch.setattr(flow, "run_synth", no_tools)
    _, build = built
    for opts, message in ((["--clock-mhz", "0"], "out of range"), (["--clock-mhz", "inf"], "not a finite"),
                          (["--target", "nope"], "unknown target part"),
                          (["--target", "pynq-z2", "--clock-mhz", "600"], "out of MMCM range"),
                          (["--target", "lfe5u-45f"], "LFE5U-45F has no board here"),
                          (["--target", "lfe5u-25f"], "use `pleiades-fpga report")):
        rc, err = run_cli(capsys, "synth", build, *opts)
        assert rc == 2 and message in err, (opts, err)


def test_report_on_broken_build_directories(built, tmp_path, capsys):
    _, build = built
    cases = {}
    half = tmp_path / "half"
    shutil.copytree(build, half)
    victim = sorted((half / "rtl").glob("*.v"))[0]
    victim.unlink()
    cases[half] = f"incomplete build .*{victim.relative_to(half)} missing"
    not_json = tmp_path / "not_json"
    shutil.copytree(build, not_json)
    (not_json / "manifest.json").write_text('{"format": "pleiades-fpga-manifest/1",')
    cases[not_json] = "manifest.json is not valid JSON"
    a_list = tmp_path / "a_list"
    shutil.copytree(build, a_list)
    (a_list / "manifest.json").write_text("[1, 2]")
    cases[a_list] = "format 'list', expected 'pleiades-fpga-manifest/1'"
    no_layers = tmp_path / "no_layers"
    shutil.copytree(build, no_layers)
    m = json.loads((no_layers / "manifest.json").read_text())
    del m["layers"]
    (no_layers / "manifest.json").write_text(json.dumps(m))
    cases[no_layers] = "lacks field.*layers"
    for key, value, message in (("top", "x; shell rm -rf /", "is not a Verilog module name"),
                                ("rtl_files", ["../../outside.v"], "rtl_files must be a list of paths inside"),
                                ("cycles_per_frame", 0, "cycles_per_frame = 0 is not a positive integer"),
                                ("cycles_per_frame", 1, "cycles_per_frame = 1 is below its slowest layer's"),
                                ("clock_mhz_target", -5, "clock_mhz_target = -5 is not a positive number")):
        edited = tmp_path / f"edited_{key}_{value}".replace("/", "_").replace(" ", "_")
        shutil.copytree(build, edited)
        m = json.loads((edited / "manifest.json").read_text())
        m[key] = value
        (edited / "manifest.json").write_text(json.dumps(m))
        cases[edited] = message
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases[a_file] = "is a file, not a build directory"
    cases[tmp_path / "nowhere"] = "manifest.json not found"
    for path, message in cases.items():
        rc, err = run_cli(capsys, "report", path)
        assert rc == 2 and re.search(message, err), (path, err)
        assert not (Path(path) / "report.json").exists() if Path(path).is_dir() else True


# --- folding JSON ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph_and_names(built):
    model, build = built
    names = list(json.loads((build / "folding.json").read_text())["layers"])
    return read_qonnx(model), names


def _mac_layer(graph, names):
    """A layer with more than one legal folding, and a PE value that is not legal for it."""
    for name in names:
        folds = candidate_folds(graph.layer(name))
        pes = {f.pe for f in folds}
        if len(pes) > 1:
            return name, max(pes) + 1
    raise AssertionError("no foldable layer")


def folding_cases(names: list[str], mac: str, bad_pe: int) -> list[tuple[str, str]]:
    """(file text, expected message) pairs, generated from the model's layer names."""
    one = names[0]
    return [
        ('{"layers": {\n  "%s": {"pe": 1,}\n}}' % one, r"line 2, column \d+ is not valid JSON"),
        ("", "line 1, column 1 is not valid JSON"),
        ("[]", "expected exactly"),
        (json.dumps({"layers": {}, "comment": "x"}), "unknown key.*'comment'"),
        (json.dumps({one: {"pe": 1}}), f"unknown key.*'{one}'"),           # the bare mapping is not accepted
        (json.dumps({"layers": [one]}), "expected exactly"),
        (json.dumps({"layers": {"conv_from_another_net": {"pe": 1}}}),
         f"unknown layer 'conv_from_another_net'; the model's layers are .*{one}"),
        (json.dumps({"layers": {one: 4}}), f"layer {one}: expected"),
        (json.dumps({"layers": {one: {"pe": 1, "simdd": 2}}}), "unknown key.*'simdd'; allowed: pe, simd"),
        (json.dumps({"layers": {one: {"pe": True}}}), "pe = True must be a positive integer"),
        (json.dumps({"layers": {one: {"pe": 2.0}}}), "pe = 2.0 must be a positive integer"),
        (json.dumps({"layers": {one: {"simd": "2"}}}), "simd = '2' must be a positive integer"),
        (json.dumps({"layers": {one: {"pe": 0}}}), "pe = 0 must be a positive integer"),
        (json.dumps({"layers": {one: {"simd": -1}}}), "simd = -1 must be a positive integer"),
        (json.dumps({"layers": {one: {"pe": None}}}), "pe = None must be a positive integer"),
        (json.dumps({"layers": {mac: {"pe": bad_pe, "simd": 1}}}), f"layer {mac}: PE={bad_pe}, SIMD=1 is not legal"),
        (json.dumps({"layers": {}}), f"sets 0 of the model's {len(names)} layers; missing: {one}.*"
                                     "start from BUILD/folding.json written by"),
        (json.dumps({"layers": {n: {"pe": 1, "simd": 1} for n in names[1:]}}),
         f"sets {len(names) - 1} of the model's {len(names)} layers; missing: {one}\\."),
        (json.dumps({"layers": {one: {"pe": 1}}}), f"layer {one} has no simd; every layer needs both pe and simd"),
        (json.dumps({"layers": {one: {}}}), f"layer {one} has no pe and no simd"),
        (json.dumps({"layers": {**{n: {"pe": 1, "simd": 1} for n in names}, "extra_layer": {"pe": 1}}}),
         "unknown layer 'extra_layer'"),
        ('{"layers": {"%s": {"pe": 1}, "%s": {"pe": 2}}}' % (one, one), f"'{one}' appear more than once"),
    ]


def test_folding_json_is_checked_against_the_schema(graph_and_names, tmp_path):
    graph, names = graph_and_names
    mac, bad_pe = _mac_layer(graph, names)
    for i, (text, message) in enumerate(folding_cases(names, mac, bad_pe)):
        path = tmp_path / f"folding_{i}.json"
        path.write_text(text)
        with pytest.raises(PleiadesError) as exc:
            load_folding(path, graph)
        assert str(path) in str(exc.value) and re.search(message, str(exc.value)), (text, str(exc.value))
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PleiadesError, match="binary.json"):
        load_folding(binary, graph)


def test_folding_json_round_trip(built, graph_and_names, tmp_path):
    _, build = built
    graph, names = graph_and_names
    written = json.loads((build / "folding.json").read_text())["layers"]
    loaded = load_folding(build / "folding.json", graph)
    assert {n: (f.pe, f.simd) for n, f in loaded.items() if n in written} == \
        {n: (v["pe"], v["simd"]) for n, v in written.items()}
    assert set(loaded) == set(written)


def test_unreachable_target_fps_is_said_and_dotted_out_path_works(built, tmp_path, capsys):
    model, _ = built
    rc, err = run_cli(capsys, "build", model, "--out", tmp_path / "a" / "..", "--target-fps", "100000",
                      "--clock-mhz", "1")
    assert rc == 0 and "--target-fps 100000 is NOT reached" in err and (tmp_path / "manifest.json").is_file()


def test_report_without_html_removes_the_earlier_page(built, tmp_path, capsys):
    _, build = built
    copy = tmp_path / "b"
    shutil.copytree(build, copy)
    assert run_cli(capsys, "report", copy)[0] in (0, 1) and (copy / "report.html").is_file()
    assert run_cli(capsys, "report", copy, "--no-html", "--target", "xc7z020")[0] in (0, 1)
    assert not (copy / "report.html").exists()           # it described the LFE5U-85F report


# --- float checkpoint -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A float checkpoint of the small network, one of a 32x32 network, and a text file named .pt."""
    from pleiades_fpga.model import build_model, save_checkpoint
    from pleiades_fpga.model.network import PleiadesNet
    from small_qonnx import CFG

    tmp = tmp_path_factory.mktemp("ckpt")
    (tmp / "text.pt").write_text("not a checkpoint\n")
    return {"same": save_checkpoint(PleiadesNet(CFG), tmp / "same.pt"),
            "other": save_checkpoint(build_model("tiny", input_size=(32, 32)), tmp / "other.pt"),
            "text": tmp / "text.pt"}


@pytest.mark.parametrize("which,message", [
    ("other", r"another network than the design \(input_size \[32, 32\] vs \[8, 8\]"),
    ("text", "cannot read checkpoint .*text.pt"),
])
def test_build_refuses_a_foreign_float_checkpoint(built, checkpoints, tmp_path, capsys, which, message):
    model, _ = built
    out = tmp_path / "out"
    rc, err = run_cli(capsys, "build", model, "--out", out, "--max-multipliers", 40, "--float-ckpt",
                      checkpoints[which])
    assert rc == 2 and re.search(message, err), err
    assert not out.exists()


def test_build_accepts_the_float_checkpoint_of_its_network(built, checkpoints, tmp_path):
    model, _ = built
    build_rtl(model, tmp_path / "b", max_multipliers=40, float_checkpoint=checkpoints["same"])
    assert (tmp_path / "b" / "float.pt").is_file()


@pytest.mark.parametrize("target,board_flow", [("lfe5u-25f", False), ("ulx3s-85f", True), ("xc7z020", False)])
def test_build_target_without_a_board_synthesizes_only(built, tmp_path, capsys, monkeypatch, target, board_flow):
    """A part without a board gets synthesis, not a place-and-route that fails after the whole build."""
    import pleiades_fpga.report.flow as flow

    calls = []
    monkeypatch.setattr(flow, "run_report", lambda build_dir, target, **kw: calls.append(kw) or {"realtime": True})
    model, _ = built
    rc, err = run_cli(capsys, "build", model, "--out", tmp_path / "b", "--target", target)
    assert rc == 0, err
    assert calls == [{"synth": True, "bitstream": board_flow}]
    assert ("without a board" in err) == (target == "lfe5u-25f")


def test_help_says_which_targets_are_boards(capsys):
    for command in ("build", "synth", "report"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "ulx3s-85f (LFE5U-85F)" in out and "pynq-z2 (xc7z020)" in out, command
        boardless = out.split("parts without a board (synthesis only):", 1)[1].split(".", 1)[0]
        assert "LFE5U-25F" in boardless and "xczu7ev" in boardless and "ulx3s" not in boardless, command


def test_report_headline_is_the_measured_latency_when_verification_is_current(built):
    """A current verification measured cycles/frame and latency: the report leads with those (provenance
    "measured in simulation"), the analytic figures beside them; a stale one is not used."""
    from pleiades_fpga.report.report import build_report, load_manifest
    from pleiades_fpga.toolflow.parts import DEFAULT_PART, get_part

    _, build = built
    manifest = load_manifest(build)
    part = get_part(DEFAULT_PART)
    analytic = build_report(manifest, part)
    assert analytic["latency_source"].startswith("analytic") and analytic["cycles_source"].startswith("analytic")
    ver = {"status": "current", "latency_cycles": manifest["latency_cycles"] + 100.0,
           "cycles_per_frame_measured": manifest["cycles_per_frame"] + 7.0, "bit_exact": True}
    rep = build_report(manifest, part, verification=ver)
    assert rep["latency_cycles"] == manifest["latency_cycles"] + 100
    assert rep["cycles_per_frame"] == manifest["cycles_per_frame"] + 7
    assert rep["latency_source"].startswith("measured in simulation")
    assert f"analytic (manifest) {manifest['latency_cycles']:,}" in rep["latency_source"]
    assert rep["cycles_source"].startswith("measured in simulation")
    assert rep["analytic"] == {"cycles_per_frame": manifest["cycles_per_frame"],
                               "latency_cycles": manifest["latency_cycles"]}
    assert rep["latency_us"] == pytest.approx(rep["latency_cycles"] / rep["fmax_mhz"])
    stale = build_report(manifest, part, verification={**ver, "status": "stale"})
    assert stale["latency_cycles"] == manifest["latency_cycles"] and stale["latency_source"].startswith("analytic")
