"""Loss registry: values against hand computations and torch references."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from orca.training.losses import LOSSES, balanced_class_weights, make_loss
from orca.evaluation.metrics import relative_l2 as relative_l2_metric


def test_registry_and_unknown():
    assert set(LOSSES) == {"cross_entropy", "mse", "l1", "bce_logits", "relative_l2", "rmse"}
    with pytest.raises(ValueError, match="allowed:.*cross_entropy"):
        make_loss("hinge")
    with pytest.raises(ValueError, match="bad options"):
        make_loss("mse", foo=1)


def test_balanced_weights_by_hand():
    y = [0, 0, 0, 1]  # freqs 3, 1 -> inverse 1/3, 1 -> mean 2/3 -> weights 0.5, 1.5
    w = balanced_class_weights(y)
    assert torch.allclose(w, torch.tensor([0.5, 1.5]))
    assert w.mean().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no training sample"):
        balanced_class_weights([0, 0, 2])


def test_cross_entropy_plain_and_weighted():
    torch.manual_seed(0)
    logits = torch.randn(6, 2)
    y = torch.tensor([0, 0, 0, 1, 0, 1])
    plain = make_loss("cross_entropy")(logits, y)
    assert plain.item() == pytest.approx(F.cross_entropy(logits, y).item())
    balanced = make_loss("cross_entropy", class_weights="balanced", y_train=[0, 0, 0, 1])(logits, y)
    # weighted mean: sum_i w_{y_i} * nll_i / sum_i w_{y_i}, w = (0.5, 1.5)
    nll = -F.log_softmax(logits, 1)[torch.arange(6), y]
    w = torch.tensor([0.5, 1.5])[y]
    assert balanced.item() == pytest.approx(((w * nll).sum() / w.sum()).item(), rel=1e-6)
    explicit = make_loss("cross_entropy", class_weights=[0.5, 1.5])(logits, y)
    assert explicit.item() == pytest.approx(balanced.item())
    with pytest.raises(ValueError, match="y_train"):
        make_loss("cross_entropy", class_weights="balanced")


def test_mse_l1():
    out = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    tgt = torch.tensor([[1.0, 0.0], [3.0, 5.0]])
    assert make_loss("mse")(out, tgt).item() == pytest.approx((4 + 1) / 4)
    assert make_loss("l1")(out, tgt).item() == pytest.approx((2 + 1) / 4)


def test_bce_logits_multilabel():
    out = torch.tensor([[0.0, 2.0]])
    tgt = torch.tensor([[1, 0]])  # int targets are accepted
    expected = (np.log(2) + np.log1p(np.exp(2.0))) / 2
    assert make_loss("bce_logits")(out, tgt).item() == pytest.approx(expected, rel=1e-6)
    pw = make_loss("bce_logits", pos_weight=[3.0, 1.0])(out, tgt).item()
    assert pw == pytest.approx((3 * np.log(2) + np.log1p(np.exp(2.0))) / 2, rel=1e-6)


def test_relative_l2_matches_metric_and_has_gradient():
    torch.manual_seed(0)
    tgt = torch.randn(5, 2, 8, 8)
    out = (tgt + 0.1 * torch.randn_like(tgt)).requires_grad_(True)
    loss = make_loss("relative_l2")(out, tgt)
    assert loss.item() == pytest.approx(relative_l2_metric(tgt.numpy(), out.detach().numpy()), rel=1e-5)
    loss.backward()
    assert out.grad is not None and torch.isfinite(out.grad).all() and out.grad.abs().sum() > 0
    by_hand = make_loss("relative_l2")(torch.tensor([[3.0, 5.0]]), torch.tensor([[3.0, 4.0]]))
    assert by_hand.item() == pytest.approx(1 / 5)


def test_relative_l2_summed_over_the_batch():
    out, tgt = torch.tensor([[3.0, 5.0], [0.0, 2.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert make_loss("relative_l2", reduction="sum")(out, tgt).item() == pytest.approx(1 / 5 + 1)
    assert make_loss("relative_l2")(out, tgt).item() == pytest.approx((1 / 5 + 1) / 2)
    with pytest.raises(ValueError, match="reduction"):
        make_loss("relative_l2", reduction="max")


def test_rmse_is_the_unnormalised_per_sample_rmse_averaged_over_the_batch():
    # ORCA's rmse_loss (PDE Burgers, 1D CFD): sqrt(mean_j (out_ij - tgt_ij)^2), then the mean over samples
    out = torch.tensor([[[1.0, 3.0]], [[0.0, 0.0]]], requires_grad=True)
    tgt = torch.tensor([[[1.0, 1.0]], [[30.0, 40.0]]])
    loss = make_loss("rmse")(out, tgt)
    assert loss.item() == pytest.approx((np.sqrt(2.0) + np.sqrt(1250.0)) / 2)
    # unlike relative l2, a target 10x larger weighs 10x more
    rel = make_loss("relative_l2")(out, tgt).item()
    assert rel == pytest.approx((2 / np.sqrt(2) + 1) / 2, rel=1e-6) and loss.item() > 10 * rel
    loss.backward()
    assert torch.isfinite(out.grad).all()


def test_masked_bce_equals_bce_on_the_entries_that_count():
    torch.manual_seed(0)
    out = torch.randn(2, 1, 4, 4)
    tgt = torch.randint(0, 2, (2, 1, 4, 4)).float()
    tgt[0, 0, :2] = -1  # Cosmic's ignore map
    keep = tgt != -1
    expected = F.binary_cross_entropy_with_logits(out[keep], tgt[keep])
    got = make_loss("bce_logits", ignore={"value": -1})(out, tgt)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    pw = make_loss("bce_logits", ignore={"value": -1}, pos_weight=10.0)(out, tgt)
    expected_pw = F.binary_cross_entropy_with_logits(out[keep], tgt[keep], pos_weight=torch.tensor(10.0))
    assert pw.item() == pytest.approx(expected_pw.item(), rel=1e-6)


def test_nan_targets_are_excluded_from_loss_and_gradient():
    out = torch.tensor([[1.0, 2.0, 7.0], [3.0, 4.0, 0.0]], requires_grad=True)
    tgt = torch.tensor([[1.0, 0.0, float("nan")], [3.0, 5.0, float("nan")]])
    mse = make_loss("mse", ignore={"nan": True})(out, tgt)
    assert mse.item() == pytest.approx((0 + 4 + 0 + 1) / 4)
    mse.backward()
    assert torch.isfinite(out.grad).all() and out.grad[:, 2].abs().sum() == 0
    assert make_loss("l1", ignore={"nan": True})(out, tgt).item() == pytest.approx((2 + 1) / 4)
    # relative l2 over the entries that count: sample 0 -> |(0, 2)| / |(1, 0)| = 2, sample 1 -> 1 / 5.83
    rel = make_loss("relative_l2", ignore={"nan": True})(out, tgt)
    assert rel.item() == pytest.approx((2.0 + 1 / np.sqrt(34)) / 2, rel=1e-6)
    # nothing counts -> 0, not NaN
    empty = make_loss("mse", ignore={"nan": True})(out, torch.full_like(tgt, float("nan")))
    assert empty.item() == 0.0


def test_losses_that_cannot_ignore_targets_say_so():
    with pytest.raises(ValueError, match="cannot ignore target entries"):
        make_loss("cross_entropy", ignore={"value": -1})


def test_masked_mean_counted_and_all_by_hand():
    # two entries count, two are ignored (-1, Cosmic's map)
    out = torch.tensor([[0.0, 2.0, -1.0, 3.0]])
    tgt = torch.tensor([[1.0, 0.0, -1.0, -1.0]])
    bce = lambda mm: make_loss("bce_logits", ignore={"value": -1}, masked_mean=mm)(out, tgt).item()  # noqa: E731
    # counted: (BCE(0, 1) + BCE(2, 0)) / 2; all: the ignored pixels become BCE(0, 0) = log 2 each, divided by 4
    assert bce("counted") == pytest.approx((np.log(2) + np.log1p(np.exp(2.0))) / 2, rel=1e-6)
    assert bce("all") == pytest.approx((np.log(2) + np.log1p(np.exp(2.0)) + 2 * np.log(2)) / 4, rel=1e-6)
    assert make_loss("bce_logits", ignore={"value": -1})(out, tgt).item() == pytest.approx(bce("counted"))  # default
    # mse / l1: an ignored entry adds loss(0, 0) = 0 to the sum, and counts in the denominator under "all"
    o = torch.tensor([[1.0, 2.0, 7.0], [3.0, 4.0, 0.0]])
    t = torch.tensor([[1.0, 0.0, float("nan")], [3.0, 5.0, float("nan")]])
    assert make_loss("mse", ignore={"nan": True}, masked_mean="all")(o, t).item() == pytest.approx((0 + 4 + 0 + 1) / 6)
    assert make_loss("mse", ignore={"nan": True}, masked_mean="counted")(o, t).item() == pytest.approx(5 / 4)
    assert make_loss("l1", ignore={"nan": True}, masked_mean="all")(o, t).item() == pytest.approx(3 / 6)
    # relative l2: "all" averages over every sample, one without any counted entry giving 0
    o3, t3 = torch.cat([o, torch.ones(1, 3)]), torch.cat([t, torch.full((1, 3), float("nan"))])
    per_sample = (2.0 + 1 / np.sqrt(34))
    assert make_loss("relative_l2", ignore={"nan": True}, masked_mean="counted")(o3, t3).item() == pytest.approx(
        per_sample / 2, rel=1e-6)
    assert make_loss("relative_l2", ignore={"nan": True}, masked_mean="all")(o3, t3).item() == pytest.approx(
        per_sample / 3, rel=1e-6)
    with pytest.raises(ValueError, match="masked_mean must be one of counted, all"):
        make_loss("bce_logits", ignore={"value": -1}, masked_mean="sum")
    # without ignore the option changes nothing (nothing is ignored)
    assert make_loss("mse", masked_mean="all")(o[:, :2], t[:, :2]).item() == pytest.approx(5 / 4)


def test_masked_mean_all_is_the_released_cosmic_loss_and_counted_differs():
    # ORCA main.py train_one_epoch with task_configs.py's COSMIC transform = utils.mask (img * (1 - ignore)):
    #   out = mask(out, z); y = mask(y, z); l = nn.BCEWithLogitsLoss()(out, y)   (mean over every pixel)
    g = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(2, 1, 32, 32, generator=g)).requires_grad_(True)
    y = (torch.rand(2, 1, 32, 32, generator=g) < 0.1).float()
    z = (torch.rand(2, 1, 32, 32, generator=g) < 0.2).float()  # ORCA's ignore plane
    released = F.binary_cross_entropy_with_logits(logits * (1 - z), y * (1 - z))
    (g_released,) = torch.autograd.grad(released, logits)
    ours_targets = torch.where(z.bool(), torch.tensor(-1.0), y)  # our prepared Cosmic targets: -1 ignored
    ours = make_loss("bce_logits", ignore={"value": -1}, masked_mean="all")(logits, ours_targets)
    (g_ours,) = torch.autograd.grad(ours, logits)
    assert ours.item() == pytest.approx(released.item(), rel=1e-6)
    assert torch.allclose(g_ours, g_released, atol=1e-9) and (g_ours[z.bool()] == 0).all()
    counted = make_loss("bce_logits", ignore={"value": -1}, masked_mean="counted")(logits, ours_targets)
    keep = z == 0
    assert counted.item() == pytest.approx(F.binary_cross_entropy_with_logits(logits[keep], y[keep]).item(), rel=1e-6)
    assert abs(counted.item() - ours.item()) > 1e-2  # the option matters on this batch


def test_the_loss_names_the_task_checks_read_are_the_losses_that_exist():
    from orca.training.loss_names import LOSS_KINDS, MASKABLE
    from orca.training.losses import LOSSES, MASKABLE_LOSSES

    assert set(LOSS_KINDS) == set(LOSSES) and MASKABLE == set(MASKABLE_LOSSES)
