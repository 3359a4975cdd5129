"""LFModel: documented signature, shapes, O(1) start, input projection for other feature counts."""

import pytest
import torch

from lfm import LFModel


def test_shapes_and_documented_attributes():
    model = LFModel(16, 16, 16, 8, 4, 0.05, sequence_length=6)
    x = torch.randn(3, 6, 16)
    assert model(x).shape == x.shape
    assert model.moe.lambda_entropy == 0.05 and model.moe.gate_probs.shape == (3, 4)


def test_first_loss_is_order_one_on_unit_data():
    # The seed's randn initialisation gave a first loss near 3e4 on unit-variance data.
    torch.manual_seed(0)
    model = LFModel(64, 64, 64, 32, 4, sequence_length=10)
    x, y = torch.randn(64, 10, 64), torch.randn(64, 10, 64)
    loss = torch.nn.functional.mse_loss(model(x), y).item()
    assert 0.5 < loss < 3.0


def test_input_projection_when_features_differ():
    model = LFModel(8, 8, 8, 4, 2, sequence_length=5, input_features=3)
    assert model(torch.randn(2, 5, 3)).shape == (2, 5, 3)


def test_dimensions_must_agree():
    with pytest.raises(ValueError, match="channel_dim"):
        LFModel(8, 16, 8, 4, 2, sequence_length=5)


def test_batch_independence():
    """A sample's output does not depend on the other samples in its batch."""
    torch.manual_seed(1)
    model = LFModel(8, 8, 8, 4, 3, sequence_length=5)
    x = torch.randn(4, 5, 8)
    torch.testing.assert_close(model(x)[:1], model(x[:1]))


def test_no_position_sees_its_own_target_through_the_mixers():
    """Changing input step t must not change predictions at positions before t (those predict steps <= t)
    except through the per-sequence summary, which the seed's design feeds to every position."""
    torch.manual_seed(0)
    model = LFModel(8, 8, 8, 4, 2, sequence_length=6, input_features=1)
    x = torch.randn(1, 6, 1)
    y = x.clone()
    y[0, 4] += 1.0  # change step 4

    class FixedSummary(torch.nn.Module):  # hold the summary fixed to isolate the mixers
        def forward(self, _mean):
            return torch.full((1, 4), 0.3)

    model.featurizer = FixedSummary()
    with torch.no_grad():
        base, changed = model(x), model(y)
    assert torch.allclose(base[0, :4], changed[0, :4])  # positions 0..3 never read step 4
    assert not torch.allclose(base[0, 4:], changed[0, 4:])


# --- what the gate can see: gate_summary ---------------------------------------------------------

def conv_model(S=8, seed=0):
    torch.manual_seed(seed)
    return LFModel(8, 8, 8, 4, 3, sequence_length=S, input_features=1, gate_summary="conv")


def test_mean_summary_is_the_seeds_window_mean():
    """gate_summary = "mean" (the default) is exactly featurizer(h.mean(dim=1)) and counts every position."""
    torch.manual_seed(0)
    model = LFModel(8, 8, 8, 4, 3, sequence_length=6, input_features=1)
    x = torch.randn(5, 6, 1)
    torch.testing.assert_close(model.featurize(x), model.featurizer(model.input_proj(x).mean(dim=1)))
    assert model.first_scored == 0 and not list(model.summary.parameters())


@pytest.mark.parametrize("S, prefix", [(2, 2), (3, 2), (10, 5), (16, 8)])
def test_conv_summary_shape_and_prefix(S, prefix):
    model = conv_model(S)
    x = torch.randn(4, S, 1)
    assert model(x).shape == (4, S, 1) and model.featurize(x).shape == (4, 4)
    assert model.summary.prefix == prefix and model.first_scored == prefix - 1
    pred, target = model.scored(model(x), x)
    assert pred.shape == target.shape == (4, S - prefix + 1, 1)


def jacobian(model, x):
    """d output[position t] / d input[step s], summed over features: (S, S)."""
    model.eval()
    jac = torch.autograd.functional.jacobian(lambda inp: model(inp)[0, :, 0], x)  # (S, 1, S, 1)
    return jac[:, 0, :, 0].abs()  # (S out, S in)


def test_conv_summary_reads_only_the_prefix():
    """The summary, so the gate and every adaptive layer, is blind to steps from P on."""
    model, x = conv_model(), torch.randn(1, 8, 1)
    jac = torch.autograd.functional.jacobian(lambda inp: model.featurize(inp)[0], x)  # (A, 1, S, 1)
    per_step = jac[:, 0, :, 0].abs().sum(dim=0)  # (S,)
    assert (per_step[:4] > 0).all() and (per_step[4:] == 0).all()


def test_every_scored_position_is_causal_with_the_conv_summary():
    """The leak control: no scored position's output depends on a later step, so none reads its target."""
    model, x = conv_model(), torch.randn(1, 8, 1)
    jac = jacobian(model, x)  # (S out, S in)
    for t in range(model.first_scored, 8):
        assert (jac[t, t + 1:] == 0).all(), f"position {t} reads a later step"
        assert jac[t, : t + 1].sum() > 0
    # the unscored early positions do read later prefix steps (through the summary): that is why they are not scored
    assert jac[0, 1: model.summary.prefix].sum() > 0


def test_the_mean_summary_leaks_a_little():
    """For contrast: with the window mean, position 0's output depends on the last step (through the summary)."""
    torch.manual_seed(0)
    model = LFModel(8, 8, 8, 4, 3, sequence_length=8, input_features=1)
    assert jacobian(model, torch.randn(1, 8, 1))[0, -1] > 0


def test_conv_summary_sees_shape_not_scale():
    """The prefix is standardised per window: an offset or a scale of the input leaves the summary as it was."""
    model = conv_model()
    model.input_proj = torch.nn.Identity()  # the projection's bias would shift, not scale: test the summary alone
    h = torch.randn(3, 8, 8)
    a = model.summary(h)
    torch.testing.assert_close(model.summary(2.5 * h + 1.0), a, atol=2e-3, rtol=2e-3)


def test_unknown_summary_is_refused():
    with pytest.raises(ValueError, match="gate_summary = 'attention'"):
        LFModel(8, 8, 8, 4, 3, sequence_length=6, gate_summary="attention")
