"""Network: independent reference forward, streaming == offline causal, causal tail == valid, receptive
field, contraction orders, norms, presets/config, MAC counts, checkpoints, re-sampling."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, special

import pleiades_fpga.quant as quant_pkg
from pleiades_fpga.errors import PleiadesError
from pleiades_fpga.model import (
    PRESETS,
    NetConfig,
    PleiadesNet,
    build_model,
    count_parameters,
    get_preset,
    load_meta,
    load_model,
    macs_per_frame,
    resample_model,
    save_checkpoint,
)

torch.manual_seed(0)


def randomize_norms(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial affine parameters and running statistics everywhere (so norms matter)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model


def make(name: str, **overrides) -> PleiadesNet:
    return randomize_norms(build_model(name, **overrides)).double().eval()


def clip(config: NetConfig, t: int, batch: int = 2, hw=None, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    h, w = hw or config.input_size
    return torch.poisson(torch.rand(batch, config.in_channels, t, h, w, generator=g) * 0.8, generator=g).double()


# ---------------------------------------------------------------------------------------------------------
# independent reference of the (B, C, T, H, W) network, from the state_dict and the config only


def quad_basis(degree, k, alpha, beta, lo, hi):
    h = (hi - lo) / k
    return np.array([[integrate.quad(lambda s: special.eval_jacobi(n, alpha, beta, s), lo + i * h,
                                     lo + (i + 1) * h)[0] / h for i in range(k)] for n in range(degree + 1)])


def reference_forward(sd, cfg: NetConfig, x, pad):
    def norm(y, prefix, temporal):  # y (B, C, T, H, W)
        c = y.shape[1]
        sh = (1, c, 1, 1, 1)
        if temporal and cfg.temporal_norm == "group":
            b, _, t, h, w = y.shape
            yg = y.reshape(b, cfg.norm_groups, c // cfg.norm_groups, t, h, w)
            mean = yg.mean(dim=(2, 4, 5), keepdim=True)
            var = yg.var(dim=(2, 4, 5), unbiased=False, keepdim=True)
            y = ((yg - mean) / torch.sqrt(var + 1e-5)).reshape(y.shape)
        else:
            y = (y - sd[prefix + "running_mean"].view(sh)) / torch.sqrt(sd[prefix + "running_var"].view(sh) + 1e-5)
        return y * sd[prefix + "weight"].view(sh) + sd[prefix + "bias"].view(sh)

    def spatial(y, weight, groups):  # 3x3 / stride 2 / pad 1 conv on every frame via conv3d (1, 3, 3)
        return F.conv3d(y, weight.unsqueeze(2), stride=(1, cfg.spatial_stride, cfg.spatial_stride),
                        padding=(0, cfg.spatial_padding, cfg.spatial_padding), groups=groups)

    def pointwise(y, prefix):
        w = sd[prefix + "weight"]
        bias = sd.get(prefix + "bias")
        return F.conv3d(y, w.view(*w.shape[:2], 1, 1, 1), bias)

    k = cfg.kernel_size
    for i, spec in enumerate(cfg.blocks):
        p = f"blocks.{i}."
        groups = 1 if spec.kind == "full" else spec.in_channels
        basis = quad_basis(cfg.degree, k, cfg.alpha, cfg.beta, *cfg.domain) / math.sqrt(k * spec.in_channels / groups)
        kernel = sd[p + "temporal.coeffs"] @ torch.tensor(basis, dtype=x.dtype)
        xin = F.pad(x, (0, 0, 0, 0, k - 1, 0)) if pad == "causal" else x
        t = F.conv3d(xin, kernel.unsqueeze(-1).unsqueeze(-1), groups=groups)
        t = F.relu(norm(t, p + "temporal_norm.", True))
        if spec.kind == "full":
            y = F.relu(norm(spatial(t, sd[p + "spatial.weight"], 1), p + "spatial_norm.", False))
        else:
            t = norm(pointwise(t, p + "pointwise."), p + "pointwise_norm.", True)
            skip_in = x if pad == "causal" else x[:, :, k - 1:]
            y = F.relu(t + pointwise(skip_in, p + "skip."))
            y = F.relu(norm(spatial(y, sd[p + "spatial.weight"], spec.med_channels), p + "spatial_norm.", False))
            y = F.relu(norm(pointwise(y, p + "spatial_pointwise."), p + "spatial_pointwise_norm.", False))
        x = y
    feat = x.mean(dim=(3, 4)).transpose(1, 2)  # (B, T, C)
    hidden = F.relu(feat @ sd["head.fc1.weight"].T + sd["head.fc1.bias"])
    return (hidden @ sd["head.fc2.weight"].T + sd["head.fc2.bias"]).transpose(1, 2)


@pytest.mark.parametrize("name,norm", [("tiny", "batch"), ("default", "batch"), ("tiny", "group")])
@pytest.mark.parametrize("pad", ["causal", "valid"])
def test_matches_reference(name, norm, pad):
    model = make(name, temporal_norm=norm, norm_groups=2)
    x = clip(model.config, model.config.receptive_field + 3, hw=(16, 16))
    with torch.no_grad():
        ours = model(x, pad=pad)
        ref = reference_forward(model.state_dict(), model.config, x, pad)
    assert ours.shape == ref.shape == (2, model.config.num_classes, x.shape[2] if pad == "causal" else 4)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------------------------------------------------
# streaming, padding modes, receptive field, contraction orders


@pytest.mark.parametrize("overrides", [{}, {"temporal_norm": "group", "norm_groups": 2}, {"temporal_kind": "free"}])
def test_streaming_equals_offline_causal(overrides):
    model = make("tiny", **overrides)
    x = clip(model.config, 17)
    with torch.no_grad():
        offline = model(x, pad="causal")
        state = model.init_state(2)
        steps = []
        for t in range(x.shape[2]):
            logits, state = model.step(x[:, :, t], state)
            steps.append(logits)
        streamed = torch.stack(steps, dim=2)
    torch.testing.assert_close(streamed, offline, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.stream(x), offline, rtol=1e-12, atol=1e-12)


def test_streaming_default_preset_float32():
    model = randomize_norms(build_model("default")).eval()
    x = clip(model.config, 12).float()
    with torch.no_grad():
        torch.testing.assert_close(model.stream(x), model(x, pad="causal"), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["tiny", "default"])
def test_causal_tail_equals_valid(name):
    model = make(name)
    d = model.config.receptive_field - 1
    assert d == len(model.config.blocks) * (model.config.kernel_size - 1)
    x = clip(model.config, d + 5)
    with torch.no_grad():
        valid, causal = model(x, pad="valid"), model(x, pad="causal")
    assert valid.shape[2] == 5 and causal.shape[2] == d + 5
    torch.testing.assert_close(causal[:, :, -5:], valid, rtol=1e-12, atol=1e-12)


def test_receptive_field_exact():
    """In causal mode frame 0 influences outputs 0..D and nothing after (D = receptive_field - 1)."""
    model = make("tiny")
    d = model.config.receptive_field - 1
    x = clip(model.config, d + 6)
    x2 = x.clone()
    x2[:, :, 0] += 3.0
    with torch.no_grad():
        y, y2 = model(x, pad="causal"), model(x2, pad="causal")
    diff = (y - y2).abs().amax(dim=(0, 1))
    assert diff[d] > 1e-9
    assert torch.all(diff[d + 1:] == 0)


@pytest.mark.parametrize("name", ["tiny", "default"])
def test_contraction_orders_equal(name):
    model = make(name)
    x = clip(model.config, 15)
    outs = {}
    with torch.no_grad():
        for order in ("kernel", "project", "auto"):
            model.set_contraction(order)
            outs[order] = model(x, pad="causal")
    torch.testing.assert_close(outs["kernel"], outs["project"], rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(outs["kernel"], outs["auto"], rtol=1e-11, atol=1e-12)


def test_batchnorm_statistics_over_batch_time_space():
    model = build_model("tiny").double().train()
    bn = model.blocks[0].temporal_norm
    bn.momentum = 1.0  # running stats = statistics of the last batch
    x = clip(model.config, 9)
    with torch.no_grad():
        t = model.blocks[0].temporal(x, pad="causal")
        model(x, pad="causal")
    torch.testing.assert_close(bn.running_mean, t.mean(dim=(0, 2, 3, 4)))
    n = t.numel() / t.shape[1]
    torch.testing.assert_close(bn.running_var, t.var(dim=(0, 2, 3, 4), unbiased=False) * n / (n - 1))


def test_training_step_runs_and_changes_coeffs():
    model = build_model("tiny")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = clip(model.config, 10).float()
    before = model.blocks[0].temporal.coeffs.detach().clone()
    loss = F.cross_entropy(model(x, pad="causal"), torch.zeros(2, 10, dtype=torch.long))
    loss.backward()
    opt.step()
    assert not torch.equal(before, model.blocks[0].temporal.coeffs)
    assert model.blocks[0].temporal.basis.grad is None


# ---------------------------------------------------------------------------------------------------------
# presets, config, counts


def test_presets_shapes_and_budgets():
    assert count_parameters(build_model("dvs128")) == 191_610
    default = get_preset("default")
    assert default.temporal_norm == "batch" and default.kernel_size == 10 and default.degree == 4
    assert default.bin_us == 10_000 and default.input_size == (32, 32) and default.num_classes >= 10
    n = count_parameters(build_model("default"))
    assert 20_000 <= n <= 60_000, n
    tiny = get_preset("tiny")
    assert tiny.kernel_size == 5 and 2 <= len(tiny.blocks) <= 3
    assert count_parameters(build_model("tiny")) < 5_000
    assert get_preset("default", num_classes=11).num_classes == 11
    with pytest.raises(PleiadesError, match="unknown preset"):
        get_preset("huge")


@pytest.mark.parametrize("name", ["tiny", "default"])
def test_macs_per_frame_counted_by_hooks(name):
    """macs_per_frame equals a count from forward hooks during one streaming step."""
    model = build_model(name).eval()
    counted = 0

    def hook(mod, inp, out):
        nonlocal counted
        if isinstance(mod, torch.nn.Conv2d):
            counted += out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, torch.nn.Linear):
            counted += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    h, w = model.config.input_size
    with torch.no_grad():
        state = model.init_state(1)
        model.step(torch.zeros(1, 2, h, w), state)
    for hd in handles:
        hd.remove()
    for blk, (bh, bw) in zip(model.blocks, model.config.spatial_sizes()):
        tl = blk.temporal
        counted += bh * bw * tl.out_channels * (tl.in_channels // tl.groups) * tl.kernel_size
    macs = macs_per_frame(model.config)
    assert macs["total"] == counted
    if name == "default":
        assert macs["total"] <= 3_000_000


def test_config_roundtrip_and_validation():
    for cfg in PRESETS.values():
        d = json.loads(json.dumps(cfg.to_dict()))
        assert NetConfig.from_dict(d) == cfg
    d = get_preset("tiny").to_dict()
    with pytest.raises(PleiadesError, match="unknown NetConfig keys"):
        NetConfig.from_dict({**d, "colour": 1})
    bad = [
        dict(temporal_norm="layer"), dict(temporal_kind="lstm"), dict(pad="same"), dict(kernel_size=0),
        dict(alpha=-1.0), dict(domain=[0.0, 3.0]), dict(num_classes=0), dict(contraction="fast"),
        dict(temporal_norm="group", norm_groups=3),
    ]
    for change in bad:
        with pytest.raises(PleiadesError):
            NetConfig.from_dict({**d, **change})
    blocks = d["blocks"]
    with pytest.raises(PleiadesError, match="expects"):
        NetConfig.from_dict({**d, "blocks": [blocks[0], {**blocks[1], "in_channels": 3}]})
    with pytest.raises(PleiadesError, match="kind"):
        NetConfig.from_dict({**d, "blocks": [{**blocks[0], "kind": "sep"}]})


def test_bad_inputs():
    model = build_model("tiny")
    with pytest.raises(PleiadesError, match="network input"):
        model(torch.zeros(1, 3, 10, 16, 16))
    with pytest.raises(PleiadesError, match="receptive field"):
        model(torch.zeros(1, 2, 5, 16, 16), pad="valid")
    with pytest.raises(PleiadesError, match="pad"):
        model(torch.zeros(1, 2, 10, 16, 16), pad="full")


# ---------------------------------------------------------------------------------------------------------
# checkpoints


def test_checkpoint_roundtrip(tmp_path):
    model = make("tiny", temporal_kind="free", num_classes=12)
    path = save_checkpoint(model, tmp_path / "sub" / "m.pt", meta={"epochs": 3})
    payload = torch.load(path, weights_only=False)
    assert payload["format"] == "pleiades-fpga/1" and payload["kind"] == "float"
    assert payload["quant_config"] is None and payload["config"]["num_classes"] == 12
    loaded = load_model(path)
    assert not loaded.training and loaded.config == model.config
    x = clip(model.config, 9).float()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.float()(x), rtol=0, atol=0)
    assert load_meta(path) == {"epochs": 3}


def test_checkpoint_errors(tmp_path):
    with pytest.raises(PleiadesError, match="does not exist"):
        load_model(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PleiadesError, match="cannot read"):
        load_model(tmp_path / "junk.pt")
    torch.save({"conv_blocks.0.conv_t.0.weight": torch.zeros(1)}, tmp_path / "pub.pt")
    with pytest.raises(PleiadesError, match="import-checkpoint"):
        load_model(tmp_path / "pub.pt")
    with pytest.raises(PleiadesError, match="NetConfig"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "x.pt")


def test_quant_checkpoint_uses_hook(tmp_path, monkeypatch):
    calls = []

    def fake_build(config, quant_config):
        calls.append((config, quant_config))
        net = PleiadesNet(config)
        net.quant_config = quant_config
        return net

    monkeypatch.setattr(quant_pkg, "build_quant_model", fake_build, raising=False)
    model = fake_build(get_preset("tiny"), {"bits": 4})
    path = save_checkpoint(model, tmp_path / "q.pt")
    assert torch.load(path, weights_only=False)["kind"] == "quant"
    loaded = load_model(path)
    assert calls[-1] == (get_preset("tiny"), {"bits": 4}) and loaded.quant_config == {"bits": 4}


# ---------------------------------------------------------------------------------------------------------
# re-sampling


@pytest.mark.parametrize("kind", ["pleiades", "free"])
def test_resample_model(tmp_path, kind):
    model = make("tiny", temporal_kind=kind)
    fine = resample_model(model, 10)
    cfg = fine.config
    assert cfg.kernel_size == 10 and cfg.bin_us == 5_000 and cfg.scale_kernel_size == 5
    assert model.config.kernel_size == 5  # the original is untouched
    for i, (old, new) in enumerate(zip(model.temporal_layers(), fine.temporal_layers())):
        assert new.kernel_size == 10
        if kind == "pleiades":
            pairs = new.kernel().reshape(*old.kernel().shape, 2)
            # first layer (per-bin counts in): each pair of new taps averages to the old tap; deeper layers
            # (rate-like activations in): each pair sums to it (bin integrals of the same kernel)
            torch.testing.assert_close(pairs.mean(-1) if i == 0 else pairs.sum(-1), old.kernel(),
                                       rtol=1e-12, atol=1e-13)
    # deeper temporal layer: a rate-like input (each 10 ms frame held for two 5 ms frames) keeps its response
    layer_old, layer_new = model.blocks[1].temporal, fine.blocks[1].temporal
    xr = torch.randn(2, layer_old.in_channels, 8, 3, 3, dtype=torch.float64)
    if kind == "pleiades":
        torch.testing.assert_close(layer_new(xr.repeat_interleave(2, dim=2), pad="valid")[:, :, ::2],
                                   layer_old(xr, pad="valid"), rtol=1e-10, atol=1e-12)
    # first temporal layer: 5 ms clip with each 10 ms frame split into two halves of the counts
    x = clip(model.config, 8)
    first_old = model.blocks[0].temporal(x, pad="valid")
    first_new = fine.blocks[0].temporal(x.repeat_interleave(2, dim=2) / 2, pad="valid")
    if kind == "pleiades":
        torch.testing.assert_close(first_new[:, :, ::2], first_old, rtol=1e-10, atol=1e-12)
    # a re-sampled model round-trips through a checkpoint (config carries scale_kernel_size)
    path = save_checkpoint(fine, tmp_path / "fine.pt")
    loaded = load_model(path).double()
    xs = clip(cfg, 30)
    with torch.no_grad():
        torch.testing.assert_close(loaded(xs), fine(xs), rtol=1e-6, atol=1e-7)
    with pytest.raises(PleiadesError, match="not an integer"):
        resample_model(model, 3)
