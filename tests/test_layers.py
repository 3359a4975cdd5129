"""AdaptiveLinear is batched correctly; TokenMixing mixes only along the sequence, ChannelMixing only along features."""

import pytest
import torch

from lfm import AdaptiveLinear, ChannelMixing, TokenMixing


def per_sample_reference(layer: AdaptiveLinear, x, a):
    """The documented formula, one sample at a time: y_b = x_b @ (W + adapt(a_b).view(out, in)).T + bias."""
    rows = []
    for b in range(x.shape[0]):
        w = layer.weight + layer.adapt(a[b]).view(layer.out_features, layer.in_features)
        rows.append(x[b] @ w.T + layer.bias)
    return torch.stack(rows)


@pytest.mark.parametrize("batch", [1, 3, 16])
@pytest.mark.parametrize("in_f,out_f", [(5, 7), (8, 8)])
def test_batched_equals_per_sample_loop(batch, in_f, out_f):
    torch.manual_seed(batch)
    layer = AdaptiveLinear(in_f, out_f, adapt_dim=4)
    torch.nn.init.normal_(layer.adapt.weight)  # make the delta large so a wrong formula shows
    x, a = torch.randn(batch, 6, in_f), torch.randn(batch, 4)
    torch.testing.assert_close(layer(x, a), per_sample_reference(layer, x, a))


def test_adaptive_linear_attributes_and_shapes():
    layer = AdaptiveLinear(3, 5, 2)
    assert layer.weight.shape == (5, 3) and layer.bias.shape == (5,)
    assert layer.adapt.in_features == 2 and layer.adapt.out_features == 15
    assert layer(torch.randn(4, 3), torch.randn(4, 2)).shape == (4, 5)  # no token axis works too


def test_mask_removes_connections_from_weight_and_delta():
    torch.manual_seed(0)
    layer = AdaptiveLinear(4, 4, 3)
    torch.nn.init.normal_(layer.adapt.weight)
    mask = torch.tril(torch.ones(4, 4))
    x, a = torch.randn(2, 4), torch.randn(2, 3)
    expected = torch.stack([x[b] @ ((layer.weight + layer.delta(a)[b]) * mask).T + layer.bias for b in range(2)])
    torch.testing.assert_close(layer(x, a, mask=mask), expected)


def test_delta_depends_on_each_samples_own_adapt_input():
    torch.manual_seed(0)
    layer = AdaptiveLinear(4, 4, 3)
    x = torch.randn(1, 2, 4).expand(2, 2, 4)  # the same x twice
    y = layer(x, torch.randn(2, 3))
    assert not torch.allclose(y[0], y[1])


def jacobian(fn, x):
    return torch.autograd.functional.jacobian(fn, x)  # (B,S,D) x (B,S,D)


@pytest.mark.parametrize("causal", [True, False])
def test_token_mixing_mixes_only_along_the_sequence(causal):
    torch.manual_seed(0)
    S, D = 5, 3
    mix = TokenMixing(S, adapt_dim=2, causal=causal)
    a = torch.randn(1, 2)
    J = jacobian(lambda x: mix(x, a), torch.randn(1, S, D))[0, :, :, 0]  # (S, D, S, D)
    for d in range(D):
        for e in range(D):
            block = J[:, d, :, e]  # how output channel d depends on input channel e, token by token
            if d == e:
                assert (block.abs() > 1e-6).sum() > S  # tokens really mix
                future = torch.triu(block, diagonal=1)  # output token t reading input token > t
                assert (future.abs().max() == 0) == causal
            else:
                assert block.abs().max() == 0  # never across channels


def test_channel_mixing_mixes_only_along_features():
    torch.manual_seed(0)
    S, D = 4, 3
    mix = ChannelMixing(D, adapt_dim=2)
    a = torch.randn(1, 2)
    J = jacobian(lambda x: mix(x, a), torch.randn(1, S, D))[0, :, :, 0]  # (S, D, S, D)
    for s in range(S):
        for t in range(S):
            block = J[s, :, t, :]
            if s == t:
                assert (block.abs() > 1e-6).sum() > D  # features mix within a token
            else:
                assert block.abs().max() == 0  # never across tokens
