"""Bad input to verify: other backends' and half-written builds, float checkpoints of another network or not a
checkpoint at all, too many jobs, too much memory, unrepresentable pause probabilities. Every case ends in a clear
PleiadesError (exit 2) before the simulator harness is built."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import pleiades_fpga.sim.verify as sv
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.hw.build import build_rtl
from small_qonnx import small_qonnx
from test_bad_input_build import checkpoints, run_cli  # noqa: F401 (checkpoints is a fixture)


class HarnessBuilt(Exception):
    """Raised instead of building the simulator harness: the checks before it all passed."""


@pytest.fixture(scope="module")
def design(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("bad_verify")
    build_rtl(small_qonnx(tmp / "small.onnx"), tmp / "build", max_multipliers=40)
    return tmp / "build"


@pytest.fixture(autouse=True)
def no_harness(monkeypatch):
    def refuse(*args, **kwargs):
        raise HarnessBuilt()
    monkeypatch.setattr(sv, "build", refuse)


def copy_of(design: Path, tmp_path: Path) -> Path:
    out = tmp_path / "b"
    shutil.copytree(design, out)
    return out


def test_hls4ml_build_is_refused_clearly(design, tmp_path, capsys):
    b = copy_of(design, tmp_path)
    (b / "manifest.json").write_text(json.dumps({"format": "pleiades-fpga-hls4ml/1", "backend": "hls4ml",
                                                 "top": "pleiades"}))
    rc, err = run_cli(capsys, "verify", b, "--frames", 2)
    assert rc == 2 and "verify need an RTL build" in err and "KeyError" not in err, err


@pytest.mark.parametrize("remove", ["rtl", "rtl/pleiades_top.v"])
def test_half_written_build_is_an_incomplete_build(design, tmp_path, capsys, remove):
    b = copy_of(design, tmp_path)
    victim = b / remove
    shutil.rmtree(victim) if victim.is_dir() else victim.unlink()
    rc, err = run_cli(capsys, "verify", b, "--frames", 2)
    assert rc == 2 and re.search(r"is an incomplete build \(RTL file\(s\) .*missing\); rebuild it", err), err
    assert "Errno" not in err


@pytest.mark.parametrize("name", ["verification.json", "verification.npz"])
def test_unwritable_results_are_refused_before_the_harness(design, tmp_path, name):
    """A result path that cannot be written is found before minutes of simulation, not after."""
    b = copy_of(design, tmp_path)
    (b / name).mkdir()
    with pytest.raises(PleiadesError, match=rf"{name} is a directory"):
        sv.verify_build(b, frames=2)


@pytest.mark.parametrize("which,message", [
    ("other", r"another network than the design \(input_size \[32, 32\] vs \[8, 8\]"),
    ("text", "cannot read checkpoint .*text.pt"),
])
def test_foreign_float_checkpoint_is_refused_before_the_harness(design, checkpoints, tmp_path, which, message):
    with pytest.raises(PleiadesError, match=message):
        sv.verify_build(design, frames=2, float_checkpoint=checkpoints[which])
    b = copy_of(design, tmp_path)          # also the BUILD/float.pt verify picks up by itself
    shutil.copyfile(checkpoints[which], b / "float.pt")
    with pytest.raises(PleiadesError, match=message.replace("text.pt", "float.pt")):
        sv.verify_build(b, frames=2)


def test_float_checkpoint_of_the_design_passes_the_checks(design, checkpoints):
    with pytest.raises(HarnessBuilt):
        sv.verify_build(design, frames=2, float_checkpoint=checkpoints["same"])


def test_refused_values_are_shown_as_given(design, capsys):
    rc, err = run_cli(capsys, "verify", design, "--pause", "0.9999999999")
    assert rc == 2 and "--pause: 0.9999999999 is out of range: allowed [0, 0.99]" in err, err


def test_jobs_are_bounded_and_capped_by_the_clips(design, capsys):
    rc, err = run_cli(capsys, "verify", design, "--jobs", 10000)
    assert rc == 2 and "--jobs: 10000 is out of range: allowed [1, 64]" in err, err
    with pytest.raises(PleiadesError, match="--jobs 65 is too many: give at most 64"):
        sv.verify_build(design, frames=2, jobs=65)
    with pytest.raises(HarnessBuilt):   # 4 frames = 1 clip (+ its run without pauses): 2 processes, not 64
        sv.verify_build(design, frames=4, jobs=64, progress=True)
    line = capsys.readouterr().out.splitlines()[0]
    assert "with 2 job(s)" in line, line
    mb = float(re.search(r"~([\d,]+) MB", line).group(1).replace(",", ""))
    assert 2 * sv.SIM_PROCESS_MB <= mb < 2 * sv.SIM_PROCESS_MB + 10, line


def test_more_memory_than_the_machine_has_is_refused(design, monkeypatch):
    monkeypatch.setattr(sv, "available_memory_mb", lambda: 100.0)
    with pytest.raises(PleiadesError, match=r"needs about 150 MB .* machine has 100 MB available; lower --jobs"):
        sv.verify_build(design, frames=2, pause=0.0)


@pytest.mark.parametrize("pause", ["0.9999999999", "0.995", "1"])
def test_pause_beyond_what_the_harness_represents_is_refused(design, capsys, pause):
    rc, err = run_cli(capsys, "verify", design, "--pause", pause)
    assert rc == 2 and "--pause" in err and "allowed [0, 0.99]" in err, err
    with pytest.raises(PleiadesError, match=r"--pause .* is invalid: give a pause probability in \[0, 0.99\]"):
        sv.verify_build(design, frames=2, pause=float(pause))
