"""Training/evaluation: metric functions on hand-made cases, a tiny end-to-end run, the CLI and its errors."""
import json

import numpy as np
import pytest
import torch

from pleiades_fpga import cli
from pleiades_fpga.data import load_clips
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model import build_model, load_model
from pleiades_fpga.train import (
    TrainConfig,
    evaluate_model,
    latency_table,
    majority_vote,
    per_step_accuracy,
    resample_for_bin,
    train_model,
)


def test_per_step_accuracy_and_majority_vote_hand_computed():
    pred = np.array([[0, 1, 1, 2], [3, 3, 0, 3], [2, 2, 1, 1]])
    labels = np.array([1, 3, 1])
    np.testing.assert_allclose(per_step_accuracy(pred, labels), [1 / 3, 2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_array_equal(majority_vote(pred, 4), [1, 3, 1])  # tie 2:2 in the last row -> class 1


def test_latency_table_times():
    acc = np.linspace(0, 1, 10)
    rows = latency_table(acc, 10_000, every_ms=30)
    assert [r["t_ms"] for r in rows] == [30.0, 60.0, 90.0, 100.0]
    assert rows[-1]["accuracy"] == 1.0


def test_train_config_errors():
    with pytest.raises(PleiadesError):
        TrainConfig(resolution=48)
    with pytest.raises(PleiadesError):
        TrainConfig(epochs=0)
    with pytest.raises(PleiadesError):
        TrainConfig(dataset="mnist")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(preset="tiny", n_train=24, n_test=10, epochs=2, batch_size=8, out=str(out), progress=False,
                      threads=1)
    model, metrics = train_model(cfg)
    return out, model, metrics


def test_end_to_end_outputs(tiny_run):
    out, model, metrics = tiny_run
    assert (out / "checkpoint.pt").is_file()
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "metrics.json").read_text())
    assert len(saved["history"]) == 2 and all(np.isfinite(h["loss"]) for h in saved["history"])
    test = saved["test"]
    assert len(test["per_step_accuracy"]) == 100 and test["n_clips"] == 10
    # the filtered accuracy is the majority vote of the model's own per-step predictions
    clips = load_clips("synthetic", "test", 32, n_clips=10, seed=0, progress=False)
    loaded = load_model(out / "checkpoint.pt")
    with torch.no_grad():
        logits = loaded(clips.frames(10_000).float(), pad="causal")
    pred = logits.argmax(1).numpy()
    vote = np.array([np.bincount(p, minlength=10).argmax() for p in pred])
    assert test["filtered_accuracy"] == pytest.approx(float((vote == clips.labels).mean()))
    np.testing.assert_allclose(test["per_step_accuracy"], (pred == clips.labels[:, None]).mean(0))


def test_evaluate_cli_on_checkpoint_and_other_bin(tiny_run, tmp_path, capsys):
    out, _, metrics = tiny_run
    ckpt = str(out / "checkpoint.pt")
    assert cli.main(["evaluate", ckpt, "--no-progress", "--json", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["filtered_accuracy"] == pytest.approx(metrics["filtered_accuracy"])
    assert cli.main(["evaluate", ckpt, "--no-progress", "--bin-ms", "5", "--json", str(tmp_path / "m5.json"),
                     "--plot", str(tmp_path / "c.png")]) == 0
    m5 = json.loads((tmp_path / "m5.json").read_text())
    assert m5["bin_us"] == 5000 and len(m5["per_step_accuracy"]) == 200
    assert m5["kernel_size"] == 2 * load_model(ckpt).config.kernel_size
    assert (tmp_path / "c.png").is_file()
    assert "filtered accuracy" in capsys.readouterr().out


def test_resample_for_bin():
    model = build_model("tiny", input_size=(32, 32))
    k = model.config.kernel_size
    assert resample_for_bin(model, 10_000) is model
    assert resample_for_bin(model, 5_000).config.kernel_size == 2 * k
    with pytest.raises(PleiadesError, match="whole number"):
        resample_for_bin(model, 3_000)


def test_evaluate_model_rebins_events():
    model = build_model("tiny", input_size=(32, 32))
    clips = load_clips("synthetic", "test", 32, n_clips=3, progress=False)
    m = evaluate_model(model, clips, 5_000)
    assert m["frames_per_clip"] == 200 and len(m["per_step_accuracy"]) == 200 and m["n_clips"] == 3
    assert m["kernel_size"] == 2 * model.config.kernel_size


def test_cli_argument_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train"])  # --out is required
    with pytest.raises(SystemExit):
        cli.main(["train", "--out", str(tmp_path), "--bin-ms", "0"])
    with pytest.raises(SystemExit):
        cli.main(["train", "--out", str(tmp_path), "--resolution", "48"])
    with pytest.raises(SystemExit):
        cli.main(["train", "--out", str(tmp_path), "--epochs", "-1"])
    with pytest.raises(SystemExit):
        cli.main(["train", "--out", str(tmp_path), "--preset", "huge", "--n-train", "2", "--n-test", "2"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    assert cli.main(["train", "--out", str(tmp_path), "--dataset", "dvs128", "--no-progress"]) == 2
    assert cli.main(["evaluate", str(tmp_path / "missing.pt"), "--no-progress"]) == 2
    assert "does not exist" in capsys.readouterr().err
