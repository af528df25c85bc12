"""Quantization configs: bit widths per layer from a TOML/YAML file, a dict or a shortcut ("w4a4").

A config (``QuantSpec``) is a plain dict once normalised (stored in quant checkpoints)::

    weight_bits = 4          # default for every conv / temporal / head weight (2..8)
    act_bits = 4             # default for every activation quantizer (2..16)
    input_bits = 8           # unsigned event counts, clipped to [0, 2**input_bits - 1] (2..8)
    groupnorm_stats = "frame"  # causal GroupNorm: "frame" (exact) or "previous" (previous frame's statistics)
    groupnorm_p = 16         # fraction bits of the GroupNorm reciprocal square root (4..24)
    act_percentile = 99.9    # calibration: the percentile of activations an activation scale covers (90..100)
    act_calibration = "mean" # post-training quantization: an activation scale from the mean of the clips' statistics
                             # or from the largest ("max": with act_percentile 100, no calibration value clipped)
    bias_correction = false  # post-training quantization: conv biases corrected for the weight rounding's mean shift
    weight_rounding = "nearest"  # post-training quantization: "nearest" or "gptq" (error-feedback rounding)
    [layers."blocks.0.*"]    # glob over module names; later entries win
    weight_bits = 8
    act_bits = 12            # e.g. wider GroupNorm inputs (up to 16 bits)
    act_percentile = 100     # per-layer calibration percentile

Weight quantizers are named by their layer (``blocks.0.temporal``, ``blocks.1.spatial_pointwise``,
``head.fc2`` ...), activation quantizers by ``<block>.<name>_act`` / ``<block>.add_quant`` /
``head.pool_quant`` / ``head.fc1_act`` (see pleiades_fpga.quant.network). Scales are powers of two.
"""
from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.ir.integers import GN_STATS

MIN_BITS, MAX_BITS = 2, 8
MAX_ACT_BITS = 16  # activation widths (default and per layer) may go up to 16 bits: the IR, golden model and RTL
# templates take any width; weights (and the CLI shortcut) stay within MAX_BITS
KEYS = ("weight_bits", "act_bits", "input_bits", "layers", "scaling", "mantissa_bits", "state_bits",
        "groupnorm_stats", "groupnorm_p", "act_percentile", "act_calibration", "bias_correction", "weight_rounding")
SCALINGS = ("pot", "dyadic")
WEIGHT_ROUNDINGS = ("nearest", "gptq")
ACT_CALIBRATIONS = ("mean", "max")
LAYER_KEYS = ("weight_bits", "act_bits", "act_percentile")
SHORTCUT = re.compile(r"^w(\d+)a(\d+)$")
SPEC_SUFFIXES = (".toml", ".yaml", ".yml", ".json")


def check_bits(value: Any, what: str, max_bits: int = MAX_BITS) -> int:
    """A bit width in [MIN_BITS, max_bits] or a PleiadesError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_BITS <= value <= max_bits:
        raise PleiadesError(
            f"{what} must be an integer bit width from {MIN_BITS} to {max_bits}, got {value!r}"
        )
    return value


def check_percentile(value: Any, what: str) -> float:
    """A calibration percentile in [90, 100] or a PleiadesError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 90.0 <= float(value) <= 100.0:
        raise PleiadesError(f"quant config {what} must be a number from 90 to 100, got {value!r}")
    return float(value)


def normalize_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate a config dict and fill defaults (8-bit input, power-of-two scaling)."""
    if not isinstance(spec, dict):
        raise PleiadesError(f"a quant config must be a mapping, got {type(spec).__name__}")
    unknown = set(spec) - set(KEYS)
    if unknown:
        raise PleiadesError(f"unknown quant config keys {sorted(unknown)}; known keys: {list(KEYS)}")
    for key in ("weight_bits", "act_bits"):
        if key not in spec:
            raise PleiadesError(f"quant config needs '{key}' (e.g. weight_bits = 4, act_bits = 4)")
    out = {
        "weight_bits": check_bits(spec["weight_bits"], "weight_bits"),
        "act_bits": check_bits(spec["act_bits"], "act_bits", MAX_ACT_BITS),
        "input_bits": check_bits(spec.get("input_bits", 8), "input_bits"),
        "scaling": spec.get("scaling", "pot"),
        "layers": {},
    }
    if out["scaling"] not in SCALINGS:
        raise PleiadesError(
            f"quant config scaling={out['scaling']!r} is not supported; use 'pot' (power-of-two scales, "
            "requantization by shift) or 'dyadic' (weight scales m * 2**e with a mantissa_bits-bit integer m, "
            "requantization by a fixed-point multiplier and a shift)"
        )
    if out["scaling"] == "dyadic":
        out["mantissa_bits"] = check_bits(spec.get("mantissa_bits", 4), "mantissa_bits")
    elif "mantissa_bits" in spec:
        raise PleiadesError("quant config mantissa_bits only applies to scaling = 'dyadic'")
    if "state_bits" in spec:  # recurrent temporal layers: width of the projection states (default 16)
        sb = spec["state_bits"]
        if isinstance(sb, bool) or not isinstance(sb, int) or not 4 <= sb <= 32:
            raise PleiadesError(f"quant config state_bits must be an integer from 4 to 32, got {sb!r}")
        out["state_bits"] = sb
    if "groupnorm_stats" in spec:  # causal GroupNorm statistics: "frame" (exact) or "previous" (no frame buffer)
        if spec["groupnorm_stats"] not in GN_STATS:
            raise PleiadesError(f"quant config groupnorm_stats must be one of {GN_STATS}, got "
                                f"{spec['groupnorm_stats']!r}")
        out["groupnorm_stats"] = spec["groupnorm_stats"]
    if "groupnorm_p" in spec:  # fraction bits P of GroupNorm's fixed-point reciprocal square root (default 16)
        gp = spec["groupnorm_p"]
        if isinstance(gp, bool) or not isinstance(gp, int) or not 4 <= gp <= 24:
            raise PleiadesError(f"quant config groupnorm_p must be an integer from 4 to 24, got {gp!r}")
        out["groupnorm_p"] = gp
    if "act_percentile" in spec:  # percentile of |activations| that sets an activation scale in calibration
        out["act_percentile"] = check_percentile(spec["act_percentile"], "act_percentile")
    if "act_calibration" in spec:  # PTQ: how the calibration clips' activation statistics combine (quant.ptq)
        if spec["act_calibration"] not in ACT_CALIBRATIONS:
            raise PleiadesError(f"quant config act_calibration must be one of {ACT_CALIBRATIONS} ('mean': the mean of "
                                "the clips' statistics, 'max': the largest), got "
                                f"{spec['act_calibration']!r}")
        out["act_calibration"] = spec["act_calibration"]
    if "bias_correction" in spec:  # PTQ: biases corrected for weight rounding (pleiades_fpga.quant.bias_correction)
        if not isinstance(spec["bias_correction"], bool):
            raise PleiadesError(f"quant config bias_correction must be true or false, got {spec['bias_correction']!r}")
        out["bias_correction"] = spec["bias_correction"]
    if "weight_rounding" in spec:  # PTQ: rounding of the weights (pleiades_fpga.quant.gptq)
        if spec["weight_rounding"] not in WEIGHT_ROUNDINGS:
            raise PleiadesError(f"quant config weight_rounding must be one of {WEIGHT_ROUNDINGS} ('gptq': rounding "
                                f"with error feedback on the calibration clips), got {spec['weight_rounding']!r}")
        out["weight_rounding"] = spec["weight_rounding"]
    layers = spec.get("layers") or {}
    if not isinstance(layers, dict):
        raise PleiadesError("quant config 'layers' must map module-name globs to {weight_bits, act_bits}")
    for pattern, override in layers.items():
        if not isinstance(override, dict) or set(override) - set(LAYER_KEYS):
            raise PleiadesError(
                f"quant config layers[{pattern!r}] must be a mapping with keys among {LAYER_KEYS}, got {override!r}"
            )
        out["layers"][str(pattern)] = {
            k: check_percentile(v, f"layers[{pattern!r}].{k}") if k == "act_percentile"
            else check_bits(v, f"layers[{pattern!r}].{k}", MAX_ACT_BITS if k == "act_bits" else MAX_BITS)
            for k, v in override.items()}
    return out


def parse_shortcut(text: str, input_bits: int = 8) -> dict[str, Any]:
    """``"w4a4"`` -> {"weight_bits": 4, "act_bits": 4, ...}."""
    m = SHORTCUT.match(text.strip().lower())
    if not m:
        raise PleiadesError(f"quant shortcut must look like 'w4a4' (weights 4 bits, activations 4 bits), got {text!r}")
    act_bits = check_bits(int(m.group(2)), "the shortcut's activation bits")  # wider ones only from a config file
    return normalize_spec({"weight_bits": int(m.group(1)), "act_bits": act_bits, "input_bits": input_bits})


def _read_config_file(path: Path, what: str) -> Any:
    """The data of a .toml, .yaml/.yml or .json file (``what`` names it in errors)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PleiadesError(f"cannot read {what} {path}: {exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        if suffix == ".json":
            return json.loads(text)
    except Exception as exc:
        raise PleiadesError(f"cannot parse {what} {path}: {exc}") from exc
    raise PleiadesError(f"{what} {path}: use a .toml, .yaml/.yml or .json file")


def load_spec_file(path: str | Path) -> dict[str, Any]:
    """Read a quant config from a .toml, .yaml/.yml or .json file."""
    path = Path(path)
    if not path.is_file():
        if path.suffix.lower() not in SPEC_SUFFIXES:
            raise PleiadesError(f"quant spec {str(path)!r} is neither a shortcut like 'w4a4' (weight and activation "
                                f"bits, {MIN_BITS}..{MAX_BITS}) nor a config file ({', '.join(SPEC_SUFFIXES)})")
        raise PleiadesError(f"quant config file {path} does not exist")
    data = _read_config_file(path, "quant config")
    if isinstance(data, dict) and "quant" in data and isinstance(data["quant"], dict):
        data = data["quant"]
    return normalize_spec(data)


def resolve_spec(
    spec: str | Path | dict[str, Any] | None = None,
    weight_bits: int | None = None,
    act_bits: int | None = None,
) -> dict[str, Any]:
    """One config from a shortcut ("w4a4"), a file path, a dict, and/or CLI overrides (--wbits/--abits).

    The overrides replace the defaults (not the per-layer entries) of the config. Errors name the spec.
    """
    try:
        return _resolve_spec(spec, weight_bits, act_bits)
    except PleiadesError as exc:
        if spec is None or isinstance(spec, dict) or str(spec) in str(exc):
            raise
        raise PleiadesError(f"quant spec {str(spec)!r}: {exc}") from exc


def _resolve_spec(spec: str | Path | dict[str, Any] | None, weight_bits: int | None,
                  act_bits: int | None) -> dict[str, Any]:
    if spec is None:
        if weight_bits is None or act_bits is None:
            raise PleiadesError("give a quant config (e.g. --quant w4a4 or a .toml file) or both --wbits and --abits")
        base: dict[str, Any] = {"weight_bits": weight_bits, "act_bits": act_bits}
    elif isinstance(spec, dict):
        base = dict(spec)
    elif isinstance(spec, Path) or (isinstance(spec, str) and not SHORTCUT.match(spec.strip().lower())):
        base = load_spec_file(spec)
    else:
        given = {f"--{o} {check_bits(b, '--' + o)}": b for o, b in (("wbits", weight_bits), ("abits", act_bits))
                 if b is not None}
        if given:  # the named spec fixes both widths: an override would silently train something else
            raise PleiadesError(f"--quant {spec} fixes the weight and activation bits; {' and '.join(given)} "
                                "contradict(s) it: give one of them (e.g. --quant w8a8, or only --wbits/--abits), "
                                "or use a TOML/YAML config whose defaults --wbits/--abits override")
        base = parse_shortcut(spec)
    if weight_bits is not None:
        base["weight_bits"] = weight_bits
    if act_bits is not None:
        base["act_bits"] = act_bits
    return normalize_spec(base)


def with_layer_config(spec: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """``spec`` with the per-layer widths of a JSON/TOML/YAML file merged in (``pleiades-fpga quantize --config``):
    either a quant config fragment (its ``layers`` entries are added after the spec's, so they win; other keys
    replace the spec's) or a plain mapping from module-name globs to {weight_bits, act_bits}."""
    path = Path(path)
    if not path.is_file():
        raise PleiadesError(f"per-layer width config {path} does not exist")
    data = _read_config_file(path, "per-layer width config")
    if not isinstance(data, dict):
        raise PleiadesError(f"per-layer width config {path} must be a mapping (layer glob -> widths)")
    if not set(data) & set(KEYS):
        data = {"layers": data}
    merged = {**spec, **{k: v for k, v in data.items() if k != "layers"}}
    merged["layers"] = {**spec.get("layers", {}), **(data.get("layers") or {})}
    try:
        return normalize_spec(merged)
    except PleiadesError as exc:
        raise PleiadesError(f"per-layer width config {path}: {exc}") from exc


_LAYER_RECORDERS: list[set[str]] = []  # names looked up by bits_for, per active overrides_must_match


@contextmanager
def overrides_must_match(spec: dict[str, Any]) -> Iterator[None]:
    """Around the building of a quantized network: refuse (listing the layer names) a per-layer override of
    ``spec`` whose glob matched none of the layers built, instead of silently ignoring it."""
    names: set[str] = set()
    _LAYER_RECORDERS.append(names)
    try:
        yield
    finally:
        _LAYER_RECORDERS.remove(names)
    unmatched = [p for p in spec.get("layers", {}) if not any(fnmatch.fnmatchcase(n, p) for n in names)]
    if unmatched:
        raise PleiadesError(f"quant config layers {', '.join(repr(p) for p in unmatched)} match(es) no layer of the "
                            f"network; its layers are: {', '.join(sorted(names))}")


def bits_for(spec: dict[str, Any], name: str, key: str) -> Any:
    """Setting ``key`` ("weight_bits", "act_bits" or "act_percentile") for module ``name``: an entry naming the layer
    exactly wins, else the last matching glob, else the config's default (None if it has none) (so
    `[layers."blocks.0.temporal"]` is never overridden by a later `[layers."blocks.*"]`)."""
    for names in _LAYER_RECORDERS:
        names.add(name)
    layers = spec.get("layers", {})
    exact = layers.get(name, {})
    if key in exact:
        return exact[key]
    bits = spec.get(key)
    for pattern, override in layers.items():
        if key in override and fnmatch.fnmatchcase(name, pattern):
            bits = override[key]
    return bits
