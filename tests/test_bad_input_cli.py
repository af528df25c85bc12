"""Bad input on the command line (#17): the one error path, options refused at parse time, inputs checked
before any work (demo's quant spec before training, request sizes before allocating, paths before writing)."""
import argparse
import time

import pytest

from pleiades_fpga import cli
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model import build_model, load_model, save_checkpoint


@pytest.fixture
def failing_command(monkeypatch, tmp_path):
    """``cli.main(["boom"])`` runs a command that raises ``failing_command.exc``; crash reports go to tmp_path."""
    state = argparse.Namespace(exc=None)

    def boom(args):
        raise state.exc

    def parser():
        p = argparse.ArgumentParser(prog="pleiades-fpga")
        sub = p.add_subparsers(dest="command")
        b = sub.add_parser("boom")
        b.add_argument("--n", type=int, default=0)
        b.set_defaults(func=boom)
        return p

    monkeypatch.setattr(cli, "build_parser", parser)
    monkeypatch.setenv(cli.CRASH_DIR_ENV, str(tmp_path / "crash"))
    return state


def test_user_error_is_one_line_without_traceback(failing_command, capsys, tmp_path):
    failing_command.exc = PleiadesError("the thing is wrong; do this instead")
    assert cli.main(["boom"]) == 2
    err = capsys.readouterr().err
    assert err == "error: the thing is wrong; do this instead\n"
    assert not (tmp_path / "crash").exists()


def test_file_system_error_is_a_user_error(failing_command, capsys):
    failing_command.exc = PermissionError(13, "Permission denied", "/x/y")
    assert cli.main(["boom"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Permission denied" in err and "Traceback" not in err


def test_out_of_memory_is_a_user_error(failing_command, capsys):
    failing_command.exc = MemoryError()
    assert cli.main(["boom"]) == 2
    assert capsys.readouterr().err.startswith("error: out of memory; ask for less")


def test_unexpected_exception_saves_the_traceback(failing_command, capsys, tmp_path):
    failing_command.exc = ZeroDivisionError("division by zero in the frobnicator")
    assert cli.main(["boom", "--n", "3"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "internal error: ZeroDivisionError: division by zero in the frobnicator" in err and "this is a bug" in err
    reports = list((tmp_path / "crash").iterdir())
    assert len(reports) == 1 and str(reports[0]) in err
    text = reports[0].read_text()
    assert text.startswith("pleiades-fpga boom --n 3\n")
    assert "Traceback (most recent call last)" in text and "in boom" in text and "ZeroDivisionError" in text


def test_exception_in_an_option_converter_goes_through_the_handler(monkeypatch, tmp_path, capsys):
    """An option converter raising something argparse does not catch (OverflowError) escaped cli.main."""
    def parser():
        def overflow(text):
            raise OverflowError("cannot convert float infinity to integer")

        p = argparse.ArgumentParser(prog="pleiades-fpga")
        p.add_subparsers(dest="command").add_parser("boom").add_argument("--n", type=overflow)
        return p

    monkeypatch.setattr(cli, "build_parser", parser)
    monkeypatch.setenv(cli.CRASH_DIR_ENV, str(tmp_path / "crash"))
    assert cli.main(["boom", "--n", "1"]) == 1
    assert "internal error: OverflowError" in capsys.readouterr().err


def test_interrupt_exits_130(failing_command, capsys):
    failing_command.exc = KeyboardInterrupt()
    assert cli.main(["boom"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_argparse_errors_stay_argparse(failing_command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["boom", "--n", "x"])
    assert exc.value.code == 2 and "invalid int value" in capsys.readouterr().err


BAD_OPTIONS = [
    ("train", "--bin-ms", "nan"), ("train", "--bin-ms", "inf"), ("train", "--bin-ms", "0"),
    ("train", "--bin-ms", "-10"), ("train", "--bin-ms", "0.0005"), ("train", "--lr", "nan"), ("train", "--lr", "0"),
    ("train", "--lr", "-1e-3"), ("train", "--lr", "inf"), ("train", "--epochs", "0"), ("train", "--batch-size", "0"),
    ("train", "--seed", "-1"), ("train", "--seed", str(2**32)), ("train", "--n-train", "0"),
    ("train", "--n-test", "-2"), ("train", "--wbits", "9"),
    ("train", "--abits", "1"), ("train", "--threads", "0"), ("train", "--threads", "100000"),
    ("train", "--preset", "huge"),
    ("evaluate", "--bin-ms", "nan"), ("evaluate", "--bin-ms", "1e308"), ("train", "--bin-ms", "1e308"),
    ("evaluate", "--bin-ms", "1000001"), ("evaluate", "--n-test", "0"), ("evaluate", "--seed", "-3"),
    ("evaluate", "--threads", "0"),
    ("export", "--frames", "0"), ("export", "--calib-clips", "0"), ("export", "--wbits", "1"),
    ("export", "--abits", "2.5"),
    ("import-checkpoint", "--alpha", "-1"), ("import-checkpoint", "--beta", "nan"),
    ("import-checkpoint", "--norm-groups", "0"),
    ("demo", "--epochs", "0"), ("demo", "--qat-epochs", "-1"), ("demo", "--max-multipliers", "0"),
    ("demo", "--n-train", "0"), ("demo", "--n-test", "0"), ("demo", "--preset", "unknown"),
]
POSITIONAL = {"evaluate": ["ckpt.pt"], "export": ["ckpt.pt", "--out", "m.onnx"],
              "import-checkpoint": ["sd.pt", "--out", "c.pt"], "train": ["--out", "o"], "demo": []}


@pytest.mark.parametrize("command,option,value", BAD_OPTIONS)
def test_bad_option_values_are_refused_at_parse_time(command, option, value, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, *POSITIONAL[command], option, value])
    assert exc.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


TRAIN_METRICS_TEXT = '{"filtered_accuracy": 0.5, "history": [], "test": {}}'


def _onnx_file(path):
    """A small valid ONNX model (an earlier export) at ``path``."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(path))
    return path


def _run(argv, capsys) -> tuple[int, str, float]:
    t = time.time()
    rc = cli.main(argv)
    return rc, capsys.readouterr().err, time.time() - t


def test_demo_rejects_a_bad_quant_spec_before_training(tmp_path, capsys):
    """Finding 3: `demo --quant w9a9` retrained and overwrote float/ before rejecting the spec."""
    float_dir = tmp_path / "demo" / "float"
    float_dir.mkdir(parents=True)
    earlier = save_checkpoint(build_model("tiny", input_size=(8, 8)), float_dir / "checkpoint.pt").read_bytes()
    before = (float_dir / "checkpoint.pt").stat().st_mtime_ns
    rc, err, seconds = _run(["demo", "--out", str(tmp_path / "demo"), "--quant", "w9a9"], capsys)
    assert rc == 2 and "w9a9" in err and "2 to 8" in err
    assert seconds < 30
    assert (float_dir / "checkpoint.pt").read_bytes() == earlier
    assert (float_dir / "checkpoint.pt").stat().st_mtime_ns == before
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["float"]


@pytest.mark.parametrize("args,message", [
    (["--target", "xc9999"], "unknown target part"),
    (["--bitstream", "--target", "xc7z020"], "ECP5 parts only"),
    (["--quant", "w4a4x"], "neither a shortcut"),
    (["--quant", "missing.toml"], "does not exist"),
])
def test_demo_validates_every_input_up_front(tmp_path, capsys, args, message):
    rc, err, seconds = _run(["demo", "--out", str(tmp_path / "d"), *args], capsys)
    assert rc == 2 and message in err and seconds < 30
    assert not (tmp_path / "d").exists()


def test_demo_out_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    rc, err, _ = _run(["demo", "--out", str(tmp_path / "f")], capsys)
    assert rc == 2 and "is a file" in err


def test_train_refuses_a_request_that_exhausts_memory(tmp_path, capsys):
    """Finding 4: `train --bin-ms 0.001` tried to allocate far more than the machine has."""
    rc, err, seconds = _run(["train", "--out", str(tmp_path / "o"), "--bin-ms", "0.001", "--no-progress"], capsys)
    assert rc == 2 and seconds < 60
    assert "1,000,000 frames" in err and "GiB" in err and "--bin-ms" in err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def float_ckpt(tmp_path_factory):
    return save_checkpoint(build_model("tiny", input_size=(32, 32)), tmp_path_factory.mktemp("ck") / "float.pt")


def test_train_init_checks(tmp_path, capsys):
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")
    (tmp_path / "dir.pt").mkdir()
    cases = [("missing.pt", "does not exist"), ("dir.pt", "is a directory"), ("empty.pt", "is empty"),
             ("junk.pt", "cannot read checkpoint"), ("model.onnx", "is an ONNX model, not a checkpoint")]
    for name, message in cases:
        rc, err, seconds = _run(["train", "--out", str(tmp_path / "o"), "--init", str(tmp_path / name),
                                 "--no-progress"], capsys)
        assert rc == 2 and message in err and seconds < 30, (name, err)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args,message", [
    (["--data-root", "."], "only read with --dataset dvs128"),
    (["--drop-bad-events"], "applies to event files"),
    (["--dataset", "dvs128"], "--data-root DIR"),
    (["--dataset", "dvs128", "--data-root", "/nonexistent/dvs"], "is not a directory"),
    (["--quant", "w4a4", "--wbits", "3", "--abits", "9"], None),  # argparse
    (["--wbits", "4"], "give both --wbits and --abits"),
    (["--quant", "nope.yaml"], "does not exist"),
])
def test_train_consistency_checks(tmp_path, capsys, args, message):
    if message is None:
        with pytest.raises(SystemExit):
            cli.main(["train", "--out", str(tmp_path / "o"), *args])
        return
    rc, err, _ = _run(["train", "--out", str(tmp_path / "o"), "--no-progress", *args], capsys)
    assert rc == 2 and message in err, err
    assert not (tmp_path / "o").exists()


def test_output_paths_checked_before_work(tmp_path, capsys, float_ckpt):
    rc, err, _ = _run(["train", "--out", "", "--no-progress"], capsys)  # trained, then wrote nothing
    assert rc == 2 and "--out is an empty path" in err
    (tmp_path / "file").write_text("x")
    rc, err, _ = _run(["train", "--out", str(tmp_path / "file"), "--no-progress"], capsys)
    assert rc == 2 and "is a file" in err
    rc, err, _ = _run(["train", "--out", str(tmp_path / "file" / "sub"), "--no-progress"], capsys)
    assert rc == 2 and "is a file, not a directory" in err
    rc, err, _ = _run(["export", str(float_ckpt), "--out", str(tmp_path), "--quant", "w8a8"], capsys)
    assert rc == 2 and "is a directory" in err
    rc, err, _ = _run(["export", str(float_ckpt), "--out", str(float_ckpt), "--quant", "w8a8"], capsys)
    assert rc == 2 and "is the same file as" in err
    rc, err, _ = _run(["evaluate", str(float_ckpt), "--json", str(tmp_path), "--no-progress"], capsys)
    assert rc == 2 and "is a directory" in err


def test_export_option_consistency(tmp_path, capsys, float_ckpt):
    rc, err, _ = _run(["export", str(float_ckpt), "--out", str(tmp_path / "m.onnx"), "--wbits", "4"], capsys)
    assert rc == 2 and "--wbits, --abits and --calib-clips apply to post-training quantization" in err
    rc, err, _ = _run(["export", str(float_ckpt), "--out", str(tmp_path / "m.onnx"), "--frames", "10000000",
                       "--quant", "w8a8"], capsys)
    assert rc == 2 and "exporting 10000000 frames" in err and "GiB" in err
    assert not (tmp_path / "m.onnx").exists()


def test_evaluate_refuses_bad_checkpoints_and_huge_requests(tmp_path, capsys, float_ckpt):
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    rc, err, _ = _run(["evaluate", str(tmp_path / "m.onnx"), "--no-progress"], capsys)
    assert rc == 2 and "ONNX model" in err
    rc, err, seconds = _run(["evaluate", str(float_ckpt), "--bin-ms", "0.001", "--no-progress"], capsys)
    assert rc == 2 and "GiB" in err and seconds < 30
    rc, err, _ = _run(["evaluate", str(float_ckpt), "--data-root", ".", "--no-progress"], capsys)
    assert rc == 2 and "--data-root" in err


def test_import_checkpoint_bad_files(tmp_path, capsys, float_ckpt):
    (tmp_path / "junk.pt").write_bytes(b"garbage" * 10)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    for path, message in [(tmp_path / "junk.pt", "cannot read"), (tmp_path / "empty.pt", "is empty"),
                          (tmp_path / "nope.pt", "does not exist"), (tmp_path, "is a directory"),
                          (float_ckpt, "already a pleiades-fpga checkpoint"), (tmp_path / "m.onnx", "ONNX model")]:
        rc, err, _ = _run(["import-checkpoint", str(path), "--out", str(tmp_path / "out.pt")], capsys)
        assert rc == 2 and message in err and err.startswith("error: "), (path, err)
    assert not (tmp_path / "out.pt").exists()
    for text in ("hello this is text\n", "version 1\n", "(lp0\nI1\na.", "\x80\x02}q\x00."):
        (tmp_path / "text.pt").write_text(text)
        for argv in (["import-checkpoint", str(tmp_path / "text.pt"), "--out", str(tmp_path / "out.pt")],
                     ["evaluate", str(tmp_path / "text.pt")]):
            rc, err, _ = _run(argv, capsys)
            assert rc == 2 and "text.pt: it is not a PyTorch checkpoint" in err, err
            assert "weights_only" not in err and "torch.load" not in err, err  # torch's advice is not for CLI users
    rc, err, _ = _run(["import-checkpoint", str(tmp_path / "junk.pt"), "--out", str(tmp_path / "junk.pt")], capsys)
    assert rc == 2 and "is the same file as" in err


def test_train_init_consistency(tmp_path, capsys, float_ckpt):
    base = ["train", "--out", str(tmp_path / "o"), "--init", str(float_ckpt), "--no-progress"]
    rc, err, _ = _run(base + ["--preset", "dvs128"], capsys)  # was silently ignored
    assert rc == 2 and "with --init the network comes from the checkpoint" in err
    rc, err, seconds = _run(base + ["--resolution", "64"], capsys)  # trained at 64, exported as 32
    assert rc == 2 and "takes 32x32 frames, not --resolution 64" in err and seconds < 30
    assert not (tmp_path / "o").exists()


def test_interrupted_training_keeps_the_earlier_result(tmp_path, monkeypatch):
    """Ctrl-C used to overwrite OUT/checkpoint.pt while OUT/metrics.json still described the earlier run."""
    from pleiades_fpga.train import loop

    out = tmp_path / "run"
    out.mkdir()
    earlier = save_checkpoint(build_model("tiny", input_size=(8, 8)), out / "checkpoint.pt").read_bytes()
    (out / "metrics.json").write_text(TRAIN_METRICS_TEXT)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_crops", interrupt)
    assert cli.main(["train", "--out", str(out), "--preset", "tiny", "--n-train", "2", "--n-test", "2",
                     "--no-progress"]) == 130
    assert (out / "checkpoint.pt").read_bytes() == earlier
    assert load_model(out / loop.INTERRUPTED_CHECKPOINT).config == build_model("tiny", input_size=(32, 32)).config


def test_diverging_training_stops_with_the_fix(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    earlier = save_checkpoint(build_model("tiny", input_size=(8, 8)), tmp_path / "run" / "checkpoint.pt").read_bytes()
    rc, err, _ = _run(["train", "--out", str(tmp_path / "run"), "--preset", "tiny", "--n-train", "16", "--n-test", "2",
                       "--epochs", "1", "--lr", "1e30", "--no-progress"], capsys)
    assert rc == 2 and "the training loss became nan" in err and "lower --lr" in err
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == earlier
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt"]


def test_failed_export_keeps_the_earlier_file(tmp_path, capsys, monkeypatch):
    import pleiades_fpga.quant as quant

    ckpt = save_checkpoint(quant.build_quant_model(build_model("tiny", input_size=(8, 8)).config, "w4a4"),
                           tmp_path / "q.pt")
    earlier = _onnx_file(tmp_path / "m.onnx").read_bytes()

    def half_written(model, path, frames):  # an export that fails to read back into the golden model
        path.write_bytes(b"half-written")
        return path

    monkeypatch.setattr(quant, "export_model", half_written)
    rc, err, _ = _run(["export", str(ckpt), "--out", str(tmp_path / "m.onnx"), "--frames", "4"], capsys)
    assert rc == 2 and "is not an ONNX file" in err
    assert f"--out {tmp_path / 'm.onnx'} failed" in err and ".tmp" not in err  # never the temporary's name
    assert (tmp_path / "m.onnx").read_bytes() == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "q.pt"]  # no temporary left behind


def test_outputs_never_replace_inputs_or_other_files(tmp_path, capsys, float_ckpt):
    """`evaluate CKPT --json CKPT` overwrote its own checkpoint, `--json manifest.json` a build's manifest."""
    ckpt = save_checkpoint(build_model("tiny", input_size=(32, 32)), tmp_path / "c.pt")
    before = ckpt.read_bytes()
    (tmp_path / "manifest.json").write_text('{"layers": []}')
    (tmp_path / "notes.txt").write_text("my notes")
    rc, err, _ = _run(["evaluate", str(ckpt), "--json", str(ckpt), "--no-progress"], capsys)
    assert rc == 2 and f"--json {ckpt} is the same file as" in err
    rc, err, _ = _run(["evaluate", str(ckpt), "--json", str(tmp_path / "manifest.json"), "--no-progress"], capsys)
    assert rc == 2 and "already exists and is not a metrics JSON written by `pleiades-fpga evaluate`" in err
    rc, err, _ = _run(["evaluate", str(ckpt), "--plot", str(tmp_path / "notes.txt.png"), "--json",
                       str(tmp_path / "notes.txt.png"), "--no-progress"], capsys)
    assert rc == 2 and "is the same file as" in err  # one file for two outputs
    for argv in (["export", str(ckpt), "--quant", "w8a8", "--out", str(tmp_path / "notes.txt")],
                 ["import-checkpoint", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "manifest.json")],
                 ["train", "--init", str(ckpt), "--out", str(tmp_path / "run")],
                 ["demo", "--out", str(tmp_path / "d")]):
        if argv[0] == "train":
            (tmp_path / "run").mkdir()
            (tmp_path / "run" / "metrics.json").write_text('{"layers": []}')
        if argv[0] == "demo":
            (tmp_path / "d").mkdir()
            (tmp_path / "d" / "model.onnx").write_text("not a model")
        rc, err, seconds = _run(argv, capsys)
        assert rc == 2 and "already exists and is not a" in err and seconds < 30, (argv, err)
    assert ckpt.read_bytes() == before and (tmp_path / "notes.txt").read_text() == "my notes"
    (tmp_path / "ok").mkdir()
    ckpt2 = save_checkpoint(build_model("tiny", input_size=(32, 32)), tmp_path / "ok" / "checkpoint.pt")
    rc, err, _ = _run(["train", "--init", str(ckpt2), "--out", str(tmp_path / "ok"), "--no-progress"], capsys)
    assert rc == 2 and "is the same file as" in err


def test_training_whose_parameters_diverge_stops(tmp_path, capsys):
    """`train --lr 1e308` went NaN in the parameters while the loss was still finite, and wrote the checkpoint."""
    rc, err, _ = _run(["train", "--out", str(tmp_path / "run"), "--preset", "tiny", "--n-train", "4", "--n-test", "2",
                       "--epochs", "1", "--lr", "1e308", "--no-progress"], capsys)
    assert rc == 2 and "lower --lr" in err and "nothing was written" in err, err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_non_finite_checkpoint_is_refused_when_loaded(tmp_path, capsys):
    import torch

    model = build_model("tiny", input_size=(32, 32))
    name = next(n for n, _ in model.named_parameters())
    with torch.no_grad():
        dict(model.named_parameters())[name].fill_(float("nan"))
    ckpt = save_checkpoint(model, tmp_path / "nan.pt")
    for argv in (["evaluate", str(ckpt), "--no-progress"],
                 ["export", str(ckpt), "--quant", "w4a4", "--out", str(tmp_path / "nan.onnx")]):
        rc, err, seconds = _run(argv, capsys)
        assert rc == 2 and "non-finite (NaN/inf) parameters in " + name in err and seconds < 30, err
    assert not (tmp_path / "nan.onnx").exists()


def test_plot_extension_checked_before_evaluating(tmp_path, capsys, float_ckpt):
    rc, err, seconds = _run(["evaluate", str(float_ckpt), "--plot", str(tmp_path / "out.pt"), "--no-progress"], capsys)
    assert rc == 2 and ".pt is not an image format" in err and ".png" in err and seconds < 30


def test_demo_checks_the_multiplier_budget_before_training(tmp_path, capsys):
    """`demo --max-multipliers 1` trained for minutes; build refuses it in a second."""
    rc, err, seconds = _run(["demo", "--out", str(tmp_path / "d"), "--max-multipliers", "1"], capsys)
    assert rc == 2 and "--max-multipliers 1 is too small" in err and seconds < 60, err
    assert not (tmp_path / "d").exists()


def test_quant_override_that_matches_no_layer_is_refused(tmp_path, capsys, float_ckpt):
    spec = tmp_path / "nomatch.toml"
    spec.write_text('weight_bits = 4\nact_bits = 4\n[layers."nomatch.*"]\nweight_bits = 8\n'
                    '[layers."blocks.0.*"]\nweight_bits = 8\n')
    for argv in (["export", str(float_ckpt), "--quant", str(spec), "--out", str(tmp_path / "m.onnx")],
                 ["train", "--quant", str(spec), "--init", str(float_ckpt), "--out", str(tmp_path / "run"),
                  "--no-progress"]):
        rc, err, seconds = _run(argv, capsys)
        assert rc == 2 and "'nomatch.*' match(es) no layer" in err and "blocks.0.spatial" in err, err
        assert "'blocks.0.*'" not in err and seconds < 30
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "run").exists()


def test_named_quant_spec_and_bit_options_conflict(tmp_path, capsys, float_ckpt):
    rc, err, seconds = _run(["train", "--quant", "w4a4", "--wbits", "8", "--abits", "8", "--init", str(float_ckpt),
                             "--out", str(tmp_path / "run"), "--no-progress"], capsys)
    assert rc == 2 and "--quant w4a4 fixes the weight and activation bits" in err and seconds < 30, err
