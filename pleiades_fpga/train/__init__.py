"""Training and evaluation: `train_model(TrainConfig)`, `evaluate_model(model, clips, bin_us)`, metrics, plots."""
from pleiades_fpga.train.config import TrainConfig
from pleiades_fpga.train.loop import evaluate_model, make_model, predict_steps, resample_for_bin, train_model
from pleiades_fpga.train.metrics import latency_table, majority_vote, per_step_accuracy
from pleiades_fpga.train.plots import plot_latency

__all__ = [
    "TrainConfig", "evaluate_model", "latency_table", "majority_vote", "make_model", "per_step_accuracy",
    "plot_latency", "predict_steps", "resample_for_bin", "train_model",
]
