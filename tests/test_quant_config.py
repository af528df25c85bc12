"""Quant configs: shortcuts, TOML/YAML files, per-layer globs, CLI overrides, bad bit widths."""
import pytest

from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.quant.config import bits_for, load_spec_file, parse_shortcut, resolve_spec


def test_shortcut():
    spec = parse_shortcut("w4a8")
    assert (spec["weight_bits"], spec["act_bits"], spec["input_bits"]) == (4, 8, 8)
    assert spec["layers"] == {}


@pytest.mark.parametrize("text", ["w1a4", "w4a9", "w9a9", "w0a2"])
def test_shortcut_bad_widths(text):
    with pytest.raises(PleiadesError, match="from 2 to 8"):
        parse_shortcut(text)


@pytest.mark.parametrize("text", ["int8", "w4", "a4w4", ""])
def test_shortcut_bad_syntax(text):
    with pytest.raises(PleiadesError, match="w4a4"):
        parse_shortcut(text)


def test_toml_and_yaml_files(tmp_path):
    toml = tmp_path / "q.toml"
    toml.write_text('weight_bits = 4\nact_bits = 6\ninput_bits = 5\n[layers."blocks.0.*"]\nweight_bits = 8\n'
                    '[layers."head.fc2"]\nweight_bits = 2\nact_bits = 3\n')
    yaml = tmp_path / "q.yaml"
    yaml.write_text("weight_bits: 4\nact_bits: 6\ninput_bits: 5\nlayers:\n  blocks.0.*:\n    weight_bits: 8\n"
                    "  head.fc2:\n    weight_bits: 2\n    act_bits: 3\n")
    for path in (toml, yaml):
        spec = load_spec_file(path)
        assert spec["input_bits"] == 5
        assert bits_for(spec, "blocks.0.temporal", "weight_bits") == 8
        assert bits_for(spec, "blocks.0.temporal_act", "act_bits") == 6  # glob sets weights only
        assert bits_for(spec, "blocks.1.temporal", "weight_bits") == 4
        assert bits_for(spec, "head.fc2", "weight_bits") == 2
        assert bits_for(spec, "head.fc2", "act_bits") == 3
        assert bits_for(spec, "head.fc1", "weight_bits") == 4


def test_later_globs_win():
    spec = resolve_spec({"weight_bits": 4, "act_bits": 4, "layers": {"blocks.*": {"weight_bits": 6},
                                                                     "blocks.1.*": {"weight_bits": 3}}})
    assert bits_for(spec, "blocks.0.spatial", "weight_bits") == 6
    assert bits_for(spec, "blocks.1.spatial", "weight_bits") == 3


def test_an_exact_layer_name_beats_a_later_glob():
    """`[layers."blocks.0.temporal"]` listed before `[layers."blocks.*"]` still sets that layer."""
    spec = resolve_spec({"weight_bits": 4, "act_bits": 4, "layers": {"blocks.0.temporal": {"weight_bits": 2},
                                                                     "blocks.*": {"weight_bits": 8}}})
    assert bits_for(spec, "blocks.0.temporal", "weight_bits") == 2
    assert bits_for(spec, "blocks.0.spatial", "weight_bits") == 8
    assert bits_for(spec, "blocks.0.temporal", "act_bits") == 4


def test_cli_overrides_replace_defaults(tmp_path):
    (tmp_path / "q.toml").write_text("weight_bits = 8\nact_bits = 8\n")
    spec = resolve_spec(str(tmp_path / "q.toml"), weight_bits=3)
    assert (spec["weight_bits"], spec["act_bits"]) == (3, 8)
    with pytest.raises(PleiadesError, match="--quant w4a4 fixes the weight and activation bits; --wbits 8"):
        resolve_spec("w4a4", weight_bits=8, act_bits=8)  # trained w8a8 silently
    assert resolve_spec(None, weight_bits=5, act_bits=6)["act_bits"] == 6
    with pytest.raises(PleiadesError, match="--wbits"):
        resolve_spec(None, weight_bits=5)


@pytest.mark.parametrize("bad", [1, 9, 0, 4.0, True])
def test_bad_bit_widths_in_dicts(bad):
    with pytest.raises(PleiadesError, match="bit width from 2 to 8"):
        resolve_spec({"weight_bits": bad, "act_bits": 4})
    if bad != 9:  # activations may be up to 16 bits wide
        with pytest.raises(PleiadesError, match="bit width from 2 to 16"):
            resolve_spec({"weight_bits": 4, "act_bits": 4, "layers": {"head.*": {"act_bits": bad}}})
    with pytest.raises(PleiadesError, match="bit width from 2 to 8"):
        resolve_spec("w4a4", act_bits=bad)


def test_activation_widths_up_to_16_bits_and_per_layer_percentile():
    spec = resolve_spec({"weight_bits": 8, "act_bits": 8, "layers": {
        "*.in_quant": {"act_bits": 12, "act_percentile": 100}, "head.fc1_act": {"act_bits": 16}}})
    assert bits_for(spec, "blocks.2.pointwise_norm.in_quant", "act_bits") == 12
    assert bits_for(spec, "blocks.2.pointwise_norm.in_quant", "act_percentile") == 100.0
    assert bits_for(spec, "blocks.2.add_quant", "act_percentile") is None  # the quantizers' default
    assert bits_for(spec, "head.fc1_act", "act_bits") == 16
    with pytest.raises(PleiadesError, match=r"layers\['head.\*'\].act_bits must be an integer bit width from 2 to 16"):
        resolve_spec({"weight_bits": 8, "act_bits": 8, "layers": {"head.*": {"act_bits": 17}}})
    with pytest.raises(PleiadesError, match="weight_bits must be an integer bit width from 2 to 8"):
        resolve_spec({"weight_bits": 8, "act_bits": 8, "layers": {"head.*": {"weight_bits": 9}}})
    with pytest.raises(PleiadesError, match="act_percentile must be a number from 90 to 100"):
        resolve_spec({"weight_bits": 8, "act_bits": 8, "layers": {"head.*": {"act_percentile": 101}}})
    with pytest.raises(PleiadesError, match="from 2 to 8"):
        parse_shortcut("w8a16")  # shortcuts stay within 8 bits; wider activations come from a config file


def test_bad_files_and_keys(tmp_path):
    with pytest.raises(PleiadesError, match="does not exist"):
        load_spec_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("weight_bits = = 4\n")
    with pytest.raises(PleiadesError, match="cannot parse"):
        load_spec_file(bad)
    txt = tmp_path / "q.txt"
    txt.write_text("weight_bits = 4\n")
    with pytest.raises(PleiadesError, match="toml"):
        load_spec_file(txt)
    with pytest.raises(PleiadesError, match="unknown quant config keys"):
        resolve_spec({"weight_bits": 4, "act_bits": 4, "wbits": 3})
    with pytest.raises(PleiadesError, match="scaling"):
        resolve_spec({"weight_bits": 4, "act_bits": 4, "scaling": "float"})


def test_example_configs_parse():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    mixed = load_spec_file(root / "quant_mixed.toml")
    assert bits_for(mixed, "blocks.0.spatial", "weight_bits") == 8
    assert bits_for(mixed, "blocks.2.spatial", "weight_bits") == 4
    assert load_spec_file(root / "quant_w8a8.yaml")["act_bits"] == 8
