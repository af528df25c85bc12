"""Import of the published PLEIADES DVS128 state_dict, checked against an independent implementation.

``published_forward`` below re-implements the published network directly from the state_dict in the
published (B, C, H, W, T) layout with plain torch ops (conv3d with the kernel weight @ transform, GroupNorm
per time step and BatchNorm written out by hand, Conv1d head), without using pleiades_fpga.model.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, special

from pleiades_fpga.cli import main as cli_main
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model import build_model, count_parameters, load_model
from pleiades_fpga.model.published import import_published

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dvs128_ckpt.pt"
REPO_FIXTURE = Path(__file__).resolve().parents[1] / "shared" / "fixtures" / "dvs128_ckpt.pt"


def fixture_path() -> Path:
    for p in (FIXTURE, REPO_FIXTURE):
        if p.is_file():
            return p
    pytest.skip(f"published DVS128 checkpoint not found at {FIXTURE} (nor {REPO_FIXTURE}); "
                "the always-running random-state_dict tests still cover the importer")


# ----------------------------------------------------------------------------------------------------------
# independent reference implementation (published layout)


def group_norm_per_step(x, weight, bias, groups=4, eps=1e-5):
    """x (B, C, H, W, T): normalise each time step over (C/groups, H, W) separately."""
    b, c, h, w, t = x.shape
    xg = x.reshape(b, groups, c // groups, h, w, t)
    mean = xg.mean(dim=(2, 3, 4), keepdim=True)
    var = ((xg - mean) ** 2).mean(dim=(2, 3, 4), keepdim=True)
    y = ((xg - mean) / torch.sqrt(var + eps)).reshape(b, c, h, w, t)
    return y * weight.view(1, c, 1, 1, 1) + bias.view(1, c, 1, 1, 1)


def batch_norm_eval(x, sd, prefix, eps=1e-5):
    c = x.shape[1]
    shape = (1, c) + (1,) * (x.dim() - 2)
    mean, var = sd[prefix + "running_mean"].view(shape), sd[prefix + "running_var"].view(shape)
    return (x - mean) / torch.sqrt(var + eps) * sd[prefix + "weight"].view(shape) + sd[prefix + "bias"].view(shape)


def published_forward(sd, x):
    """x (B, 2, H, W, T) event counts -> logits (B, classes, T - 5*(K-1)); valid temporal convolutions."""
    b = 0
    while f"conv_blocks.{b}.conv_t.0.weight" in sd:
        p = f"conv_blocks.{b}."
        dws = p + "t_skip.weight" in sd
        kernel = sd[p + "conv_t.0.weight"] @ sd[p + "conv_t.0.transform"]  # (O, C/g, 1, 1, K)
        k = kernel.shape[-1]
        t = F.conv3d(x, kernel, groups=x.shape[1] if dws else 1)
        t = F.relu(group_norm_per_step(t, sd[p + "conv_t.1.0.weight"], sd[p + "conv_t.1.0.bias"]))
        if dws:
            t = F.conv3d(t, sd[p + "conv_t.2.weight"])
            t = group_norm_per_step(t, sd[p + "conv_t.3.0.weight"], sd[p + "conv_t.3.0.bias"])
            skip = F.conv3d(x[..., k - 1:], sd[p + "t_skip.weight"], sd[p + "t_skip.bias"])
            t = F.relu(t + skip)
        s = F.conv3d(t, sd[p + "conv_s.0.weight"], stride=(2, 2, 1), padding=(1, 1, 0),
                     groups=t.shape[1] if dws else 1)
        s = F.relu(batch_norm_eval(s, sd, p + "conv_s.1.0."))
        if dws:
            s = F.relu(batch_norm_eval(F.conv3d(s, sd[p + "conv_s.2.weight"]), sd, p + "conv_s.3.0."))
        x = s
        b += 1
    y = x.mean(dim=(2, 3))  # (B, C, T)
    y = F.relu(F.conv1d(y, sd["classifier.1.0.weight"], sd["classifier.1.0.bias"]))
    return F.conv1d(y, sd["classifier.1.2.weight"], sd["classifier.1.2.bias"])


def published_transform(degree, k, cin_per_group, alpha=-0.25, beta=-0.25):
    """Published basis by quadrature: L * integral of P_n over [i/L, (i+1)/L], / (sqrt(C/g) * sqrt(L))."""
    out = np.zeros((degree + 1, k))
    for n in range(degree + 1):
        for i in range(k):
            val, _ = integrate.quad(lambda s: special.eval_jacobi(n, alpha, beta, s), i / k, (i + 1) / k)
            out[n, i] = k * val
    return torch.tensor(out / (math.sqrt(cin_per_group) * math.sqrt(k)), dtype=torch.float32)


def random_published_state_dict(channels, kinds, k=10, degree=4, classes=10, seed=0):
    """A published-layout state_dict (same key names and shape rules) with random weights and BN statistics."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale

    def bn(prefix, c):
        sd[prefix + "weight"] = 1 + 0.2 * rnd(c)
        sd[prefix + "bias"] = 0.2 * rnd(c)
        sd[prefix + "running_mean"] = 0.3 * rnd(c)
        sd[prefix + "running_var"] = 0.5 + torch.rand(c, generator=g)
        sd[prefix + "num_batches_tracked"] = torch.tensor(7)

    sd = OrderedDict()
    cin = 2
    for b, kind in enumerate(kinds):
        med, out = channels[2 * b], channels[2 * b + 1]
        p = f"conv_blocks.{b}."
        if kind == "full":
            sd[p + "conv_t.0.weight"] = rnd(med, cin, 1, 1, degree + 1, scale=0.5)
            sd[p + "conv_t.0.transform"] = published_transform(degree, k, cin)
            sd[p + "conv_t.1.0.weight"], sd[p + "conv_t.1.0.bias"] = 1 + 0.2 * rnd(med), 0.2 * rnd(med)
            sd[p + "conv_s.0.weight"] = rnd(out, med, 3, 3, 1, scale=1 / math.sqrt(9 * med))
            bn(p + "conv_s.1.0.", out)
        else:
            sd[p + "conv_t.0.weight"] = rnd(cin, 1, 1, 1, degree + 1, scale=0.5)
            sd[p + "conv_t.0.transform"] = published_transform(degree, k, 1)
            sd[p + "conv_t.1.0.weight"], sd[p + "conv_t.1.0.bias"] = 1 + 0.2 * rnd(cin), 0.2 * rnd(cin)
            sd[p + "conv_t.2.weight"] = rnd(med, cin, 1, 1, 1, scale=1 / math.sqrt(cin))
            sd[p + "conv_t.3.0.weight"], sd[p + "conv_t.3.0.bias"] = 1 + 0.2 * rnd(med), 0.2 * rnd(med)
            sd[p + "t_skip.weight"] = rnd(med, cin, 1, 1, 1, scale=1 / math.sqrt(cin))
            sd[p + "t_skip.bias"] = 0.2 * rnd(med)
            sd[p + "conv_s.0.weight"] = rnd(med, 1, 3, 3, 1, scale=1 / 3)
            bn(p + "conv_s.1.0.", med)
            sd[p + "conv_s.2.weight"] = rnd(out, med, 1, 1, 1, scale=1 / math.sqrt(med))
            bn(p + "conv_s.3.0.", out)
        cin = out
    sd["classifier.1.0.weight"] = rnd(cin, cin, 1, scale=1 / math.sqrt(cin))
    sd["classifier.1.0.bias"] = 0.1 * rnd(cin)
    sd["classifier.1.2.weight"] = rnd(classes, cin, 1, scale=1 / math.sqrt(cin))
    sd["classifier.1.2.bias"] = 0.1 * rnd(classes)
    return sd


def random_events(batch, t, h, w, seed=1):
    """Sparse per-bin event counts (B, 2, H, W, T) in the published layout."""
    g = torch.Generator().manual_seed(seed)
    rate = torch.rand(batch, 2, h, w, t, generator=g) * 0.6
    return torch.poisson(rate, generator=g)


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def check_parity(model, sd, x_published):
    ref = published_forward(sd, x_published)
    ours = model(x_published.permute(0, 1, 4, 2, 3), pad="valid")
    assert ours.shape == ref.shape
    assert ref.abs().max() > 1e-3  # a meaningful, non-degenerate output
    return rel_err(ours, ref)


# ----------------------------------------------------------------------------------------------------------
# always run: random published-layout state_dicts


@pytest.mark.parametrize("kinds", [["full", "full", "dws"], ["full", "dws", "dws"]])
def test_import_random_state_dict(kinds):
    channels = [8, 12, 16, 20, 24, 28]
    sd = random_published_state_dict(channels, kinds, seed=len(kinds) + kinds.count("dws"))
    model = import_published(sd)
    assert [b.kind for b in model.config.blocks] == kinds
    assert model.config.temporal_norm == "group" and model.config.pad == "valid"
    x = random_events(2, 3 * 9 + 4, 16, 16)
    with torch.no_grad():
        for order in ("kernel", "project", "auto"):
            model.set_contraction(order)
            assert check_parity(model, sd, x) < 1e-5, order
    # a changed weight changes the reference: the comparison is sensitive
    sd2 = OrderedDict(sd)
    sd2["conv_blocks.1.conv_s.0.weight"] = sd["conv_blocks.1.conv_s.0.weight"] * 1.01
    with torch.no_grad():
        assert check_parity(model, sd2, x) > 1e-4


def test_import_rejects_wrong_basis_and_unknown_keys():
    sd = random_published_state_dict([8, 12, 16, 20], ["full", "dws"])
    with pytest.raises(PleiadesError, match="alpha"):
        import_published(sd, alpha=0.5)
    sd_bad = OrderedDict(sd)
    sd_bad["conv_blocks.0.extra.weight"] = torch.zeros(1)
    with pytest.raises(PleiadesError, match="does not understand"):
        import_published(sd_bad)
    sd_missing = OrderedDict(sd)
    del sd_missing["classifier.1.2.bias"]
    with pytest.raises(PleiadesError, match="classifier.1.2.bias"):
        import_published(sd_missing)
    with pytest.raises(PleiadesError, match="not a PLEIADES"):
        import_published({"foo": torch.zeros(1)})


def test_cli_import_and_load(tmp_path):
    sd = random_published_state_dict([8, 12, 16, 20], ["full", "dws"], seed=5)
    src, out = tmp_path / "published.pt", tmp_path / "imported.pt"
    torch.save(sd, src)
    assert cli_main(["import-checkpoint", str(src), "--out", str(out)]) == 0
    model = load_model(out)
    x = random_events(1, 2 * 9 + 3, 8, 8, seed=3)
    with torch.no_grad():
        assert check_parity(model, sd, x) < 1e-5
    assert cli_main(["import-checkpoint", str(tmp_path / "missing.pt"), "--out", str(out)]) == 2


def test_dvs128_preset_parameter_count():
    model = build_model("dvs128")
    assert count_parameters(model) == 191_610  # "192K" in the paper, published checkpoint
    sd = random_published_state_dict([8, 16, 32, 48, 64, 80, 96, 112, 128, 256], ["full"] * 2 + ["dws"] * 3)
    trainable = sum(v.numel() for k, v in sd.items()
                    if not k.endswith(("transform", "running_mean", "running_var", "num_batches_tracked")))
    assert trainable == 191_610
    assert import_published(sd).config == model.config.replace()


# ----------------------------------------------------------------------------------------------------------
# the real published checkpoint (skipped with a message when the fixture is absent)


def test_real_checkpoint_parity(tmp_path):
    path = fixture_path()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    out = tmp_path / "dvs128.pt"
    assert cli_main(["import-checkpoint", str(path), "--out", str(out)]) == 0
    model = load_model(out)
    assert count_parameters(model) == 191_610
    assert model.config == build_model("dvs128").config
    x = random_events(2, 46 + 1, 128, 128, seed=11)  # receptive field 1 + 5 * 9 = 46 frames -> 2 valid steps
    with torch.no_grad():
        for order in ("kernel", "project"):
            model.set_contraction(order)
            assert check_parity(model, sd, x) < 1e-5, order
    # our exact basis equals the published transform (float32 rounding)
    for b, block in enumerate(model.blocks):
        torch.testing.assert_close(block.temporal.basis, sd[f"conv_blocks.{b}.conv_t.0.transform"],
                                   rtol=1e-5, atol=1e-6)
