"""Quantized recurrent temporal layers: QAT forward == integer semantics, widths, gradients, BN folding."""
import numpy as np
import pytest
import torch
from brevitas.quant_tensor import IntQuantTensor

from pleiades_fpga.ir.integers import int_range
from pleiades_fpga.model import build_model, get_preset
from pleiades_fpga.quant import build_quant_model, calibrate, fold_batchnorm
from pleiades_fpga.quant.recurrent import QuantRecurrentConv

torch.set_num_threads(1)
CFG = get_preset("tiny").replace(kernel_size=10, input_size=[8, 8], temporal="recurrent")


def _reference_states(x_int: np.ndarray, A: np.ndarray, B: np.ndarray, f: int, bits: int) -> np.ndarray:
    """Scalar-loop integer recurrence (independent of the code under test): x (C, T) -> (C, D, T)."""
    c_n, t_n = x_int.shape
    d = len(B)
    lo, hi = int_range(bits, True)
    out = np.zeros((c_n, d, t_n), dtype=np.int64)
    for c in range(c_n):
        s = [0] * d
        for t in range(t_n):
            new = []
            for n in range(d):
                acc = sum(int(A[n][m]) * s[m] for m in range(d)) + int(B[n]) * int(x_int[c, t])
                q, r = divmod(acc, 2**f)  # floor division; round half to even by hand
                if 2 * r > 2**f or (2 * r == 2**f and q % 2 == 1):
                    q += 1
                new.append(min(max(q, lo), hi))
            s = new
            out[c, :, t] = s
    return out


@pytest.mark.parametrize("in_bits,in_scale,signed", [(8, 1.0, False), (4, 0.25, False), (6, 0.5, True)])
def test_qat_states_equal_integer_semantics(in_bits, in_scale, signed):
    torch.manual_seed(0)
    layer = QuantRecurrentConv(3, 4, 10, degree=4, state_bits=12)
    lo, hi = int_range(in_bits, signed)
    x_int = torch.randint(lo, hi + 1, (1, 3, 40, 1, 1)).double()
    x = IntQuantTensor(x_int.float() * in_scale, torch.tensor(in_scale), torch.tensor(0.0),
                       torch.tensor(float(in_bits)), signed, False)
    states, fmt = layer.states(x)
    ints = (states.double() / fmt.state_scale)[0, :, :, 0, 0].numpy()
    assert np.array_equal(ints, np.round(ints))
    ref = _reference_states(x_int[0, :, :, 0, 0].numpy().astype(np.int64), fmt.A, fmt.B, fmt.frac_bits, fmt.state_bits)
    np.testing.assert_array_equal(ints.reshape(3, 5, 40), ref)
    # the worst-case analysis holds: no state saturates, and the states use a good part of the range
    assert np.abs(ref).max() < 2 ** (fmt.state_bits - 1) - 1
    assert fmt.spectral_radius < 1 and fmt.frac_bits >= 4
    # the integer format does not depend on the (learned, power-of-two) input scale
    other = layer.integer_format(in_scale * 4, lo, hi)
    np.testing.assert_array_equal(other.B, fmt.B)
    assert other.state_scale == fmt.state_scale * 4


def test_gradients_reach_readout_and_input():
    torch.manual_seed(1)
    model = build_quant_model(CFG, "w8a8", init_from=build_model(CFG))
    x = torch.poisson(torch.full((4, 2, 14, 8, 8), 0.5))
    calibrate(model, x)
    model.train()
    model(x, pad="causal").square().mean().backward()
    for block in model.blocks:
        assert float(block.temporal.readout.weight.grad.abs().sum()) > 0
    # block 1 receives its input from block 0: gradients pass through the recurrence (straight-through)
    assert float(model.blocks[0].spatial.weight.grad.abs().sum()) > 0


def test_bn_folds_into_the_readout():
    torch.manual_seed(2)
    model = build_quant_model(CFG, "w8a8")
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.poisson(torch.full((4, 2, 14, 8, 8), 0.5))
    calibrate(model, x)
    folded = fold_batchnorm(model)
    assert isinstance(folded.blocks[0].temporal, QuantRecurrentConv)
    bn = model.blocks[0].temporal_norm
    f = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(folded.blocks[0].temporal.readout.weight,
                               model.blocks[0].temporal.readout.weight * f.view(-1, 1, 1, 1, 1))
    torch.testing.assert_close(folded.blocks[0].temporal.readout.bias, bn.bias - bn.running_mean * f)
    with torch.no_grad():
        a, b = model(x, pad="causal"), folded(x, pad="causal")
    # folding re-quantizes the readout weights (per-channel power-of-two scales): close, not identical
    assert float((a - b).abs().max()) < 0.25 * float(a.abs().max())


def test_qat_fine_tune_from_a_buffer_checkpoint_converts_and_folds(tmp_path):
    from pleiades_fpga.model import save_checkpoint
    from pleiades_fpga.train import TrainConfig
    from pleiades_fpga.train.loop import make_model

    torch.manual_seed(3)
    ckpt = save_checkpoint(build_model(get_preset("tiny").replace(kernel_size=10, input_size=(32, 32))),
                           tmp_path / "buf.pt")
    model = make_model(TrainConfig(preset="tiny", init=str(ckpt), temporal="recurrent", quant="w8a8"), 10)
    assert model.config.temporal == "recurrent" and model.quant_config["folded"]
    assert all(isinstance(t, QuantRecurrentConv) for t in model.temporal_layers())
