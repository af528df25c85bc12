"""Project checkpoints: ``torch.save({"format": "pleiades-fpga/1", "kind", "config", "quant_config",
"state_dict", "meta"})`` (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pleiades_fpga.artifacts import atomic_path
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.paths import OutputKind, check_input_file
from pleiades_fpga.model.presets import NetConfig

FORMAT = "pleiades-fpga/1"
KINDS = ("float", "quant")


def save_checkpoint(model: nn.Module, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (has ``.config``: NetConfig; quant models also ``.quant_config``) to ``path``.

    kind is "quant" when the model has a non-None ``quant_config`` attribute, else "float".
    """
    config = getattr(model, "config", None)
    if not isinstance(config, NetConfig):
        raise PleiadesError(
            f"save_checkpoint needs a model with a NetConfig in .config, got {type(model).__name__}"
        )
    quant_config = getattr(model, "quant_config", None)
    payload = {
        "format": FORMAT,
        "kind": "quant" if quant_config is not None else "float",
        "config": config.to_dict(),
        "quant_config": quant_config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    path = Path(path)
    with atomic_path(path) as tmp:  # an interrupted save never leaves a truncated checkpoint
        torch.save(payload, tmp)
    return path


def torch_load(path: Path, what: str, fix: str, *, weights_only: bool) -> Any:
    """``torch.load`` on the CPU; a file it cannot read (text, another format, truncated) is a PleiadesError
    saying so and ``fix`` (torch's own message, e.g. its weights_only advice, does not apply to a CLI user)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # noqa: BLE001 - corrupted / not a torch file / unpicklable objects
        raise PleiadesError(f"cannot read {what} {path}: it is not a PyTorch checkpoint (or it is truncated, "
                            f"{type(exc).__name__}); {fix}") from exc


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate a checkpoint dict (no model built)."""
    path = check_input_file(path, "checkpoint")
    if path.suffix.lower() == ".onnx":
        raise PleiadesError(f"{path} is an ONNX model, not a checkpoint: give the checkpoint.pt written by "
                            "`pleiades-fpga train` (an ONNX model goes to `pleiades-fpga build`)")
    payload = torch_load(path, "checkpoint", "give the checkpoint.pt written by `pleiades-fpga train`", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        hint = ""
        if isinstance(payload, dict) and any(str(k).startswith("conv_blocks.") for k in payload):
            hint = "; it looks like a published PLEIADES state_dict: convert it with `pleiades-fpga import-checkpoint`"
        raise PleiadesError(f"{path} is not a {FORMAT} checkpoint{hint}")
    if payload.get("kind") not in KINDS:
        raise PleiadesError(f"{path}: unknown checkpoint kind {payload.get('kind')!r} (expected one of {KINDS})")
    return payload


def nonfinite_tensors(tensors: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors in ``tensors`` holding NaN or inf."""
    return [name for name, t in tensors.items()
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all())]


def load_model(path: str | Path) -> nn.Module:
    """The model stored in a checkpoint written by ``save_checkpoint`` (float or quant), in eval mode."""
    from pleiades_fpga.model.network import PleiadesNet

    payload = read_checkpoint(path)
    bad = nonfinite_tensors(payload.get("state_dict") or {}) if isinstance(payload.get("state_dict"), dict) else []
    if bad:
        shown = ", ".join(bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
        raise PleiadesError(f"{path} has non-finite (NaN/inf) parameters in {shown}: the training that wrote it "
                            "diverged; train again with a lower --lr")
    try:
        config = NetConfig.from_dict(payload["config"])
    except PleiadesError as exc:
        raise PleiadesError(f"{path}: invalid network config: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PleiadesError(f"{path}: malformed network config ({type(exc).__name__}: {exc}); "
                            "re-create the checkpoint with `pleiades-fpga train`") from exc
    if payload["kind"] == "quant":
        try:
            quant = importlib.import_module("pleiades_fpga.quant")
            build_quant_model = quant.build_quant_model
        except (ImportError, AttributeError) as exc:
            raise PleiadesError(
                f"{path} is a quantized checkpoint but pleiades_fpga.quant.build_quant_model is unavailable: {exc}"
            ) from exc
        model = build_quant_model(config, payload["quant_config"])
    else:
        model = PleiadesNet(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        raise PleiadesError(f"{path}: state_dict does not match its config: {exc}") from exc
    model.eval()
    return model


def load_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` dict of a checkpoint."""
    return dict(read_checkpoint(path).get("meta") or {})


def _is_checkpoint(path: Path) -> bool:
    try:
        read_checkpoint(path)
    except PleiadesError:
        return False
    return True


#: output kind of a checkpoint file (an existing file may be replaced only if it is one)
CHECKPOINT = OutputKind("pleiades-fpga checkpoint", _is_checkpoint)
