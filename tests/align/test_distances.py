"""Tests for orca.align.distances (the align-stage distances)."""

import math

import numpy as np
import ot
import pytest
import torch

from orca.align import distances as D
from orca.align.distances import ALIGNERS, make_aligner

NAMES = ["none", "l2", "mmd", "otdd-exact", "otdd-gaussian"]
DISTANCES = [n for n in NAMES if n != "none"]


def blobs(n_per, k, d, shift=0.0, scale=1.0, seed=0, dtype=torch.float64, spread=3.0):
    """k labelled Gaussian blobs, n_per points each, class means fixed by ``seed=0``."""
    means = torch.randn(k, d, generator=torch.Generator().manual_seed(1234), dtype=dtype) * spread
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(k).repeat_interleave(n_per)
    x = means[y] + scale * torch.randn(k * n_per, d, generator=g, dtype=dtype) + shift
    return x, y


def dist(name, src, tgt, grad=False, **opts):
    a = make_aligner(name, **opts)
    a.prepare(*src)
    x = tgt[0].clone().requires_grad_(grad)
    return a(x, tgt[1]), x


@pytest.fixture(scope="module")
def data():
    return blobs(40, 3, 6, seed=0), blobs(30, 3, 6, seed=1, shift=0.7)


# ---------------------------------------------------------------- registry / API


def test_registry_and_unknown_name():
    assert set(NAMES) <= set(ALIGNERS)
    with pytest.raises(ValueError) as e:
        make_aligner("otdd-bogus")
    for n in NAMES:
        assert n in str(e.value)
    assert make_aligner("none").trains_embedder is False
    assert all(make_aligner(n).trains_embedder for n in DISTANCES)
    assert all(make_aligner(n).name == n for n in NAMES)


def test_shared_options_accepted_and_typos_rejected():
    for n in NAMES:
        make_aligner(n, reg=0.1, max_source=100)
    with pytest.raises(TypeError):
        make_aligner("l2", rgu=0.1)


def test_call_before_prepare_raises():
    with pytest.raises(RuntimeError):
        make_aligner("l2")(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long))


# ---------------------------------------------------------------- generic properties


@pytest.mark.parametrize("name", NAMES)
def test_scalar_finite_nonnegative_and_grad(name, data):
    src, tgt = data
    v, x = dist(name, src, tgt, grad=True)
    val = float(v.detach())
    assert v.ndim == 0 and torch.isfinite(v)
    assert val >= -1e-6
    v.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    if name == "none":
        assert val == 0.0 and float(x.grad.abs().sum()) == 0.0
    else:
        assert val > 1e-3
        assert float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", DISTANCES)
def test_self_distance_is_zero(name, data):
    src, tgt = data
    perm = torch.randperm(len(src[1]), generator=torch.Generator().manual_seed(0))
    shuffled = (src[0][perm], src[1][perm])  # same dataset, other row order
    v_self = float(dist(name, src, shuffled)[0])
    v_other = float(dist(name, src, tgt)[0])
    assert abs(v_self) <= 1e-3 * v_other, (v_self, v_other)
    # two independent samples of one distribution: small next to a shifted one
    v_resample = float(dist(name, src, blobs(40, 3, 6, seed=9))[0])
    assert v_resample < 0.5 * v_other, (v_resample, v_other)


@pytest.mark.parametrize("name", ["otdd-exact", "otdd-gaussian"])
def test_self_distance_one_class_target(name, data):
    """The align loop calls the distance class by class: a source class vs a 1-class source."""
    (xs, ys), _ = data
    one = (xs[ys == 1], ys[ys == 1])
    assert abs(float(dist(name, one, one)[0])) < 1e-3
    # a single class vs the whole source is far from 0 (the other classes must be reached)
    assert float(dist(name, (xs, ys), one)[0]) > 1.0


@pytest.mark.parametrize("name", DISTANCES)
def test_symmetric(name, data):
    src, tgt = data
    opts = {"bandwidths": [4.0, 16.0, 64.0]} if name == "mmd" else {}
    ab = float(dist(name, src, tgt, **opts)[0])
    ba = float(dist(name, tgt, src, **opts)[0])
    assert ab == pytest.approx(ba, rel=2e-3, abs=1e-6)


@pytest.mark.parametrize("name", DISTANCES)
def test_increases_with_shift(name):
    src = blobs(40, 3, 6, seed=0)
    vals = [float(dist(name, src, blobs(25, 3, 6, seed=2, shift=s))[0]) for s in (0.0, 0.5, 1.0, 2.0)]
    assert all(b > a for a, b in zip(vals, vals[1:])), vals


@pytest.mark.parametrize("name", DISTANCES)
def test_prepare_caching_is_deterministic(name, data):
    src, tgt = data
    a = make_aligner(name)
    a.prepare(*src)
    v1 = float(a(*tgt))
    v2 = float(a(*tgt))
    a.prepare(*src)
    v3 = float(a(*tgt))
    assert v1 == v2 == v3


@pytest.mark.parametrize("name", DISTANCES)
def test_max_source_subsampling_is_seeded(name, data):
    src, tgt = data
    v = [float(dist(name, src, tgt, max_source=60, seed=s)[0]) for s in (0, 0, 1)]
    assert v[0] == v[1]
    assert v[0] != v[2]


@pytest.mark.parametrize("name", DISTANCES)
def test_float32_follows_input(name, data):
    src, tgt = data
    src32 = (src[0].float(), src[1])
    v32, x = dist(name, src32, (tgt[0].float(), tgt[1]), grad=True)
    v64 = dist(name, src, tgt)[0]
    assert v32.dtype == torch.float32
    assert float(v32.detach()) == pytest.approx(float(v64), rel=1e-3)
    v32.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", DISTANCES)
def test_gradient_step_reduces_distance(name, data):
    src, tgt = data
    a = make_aligner(name)
    a.prepare(*src)
    x = tgt[0].clone().requires_grad_(True)
    v = a(x, tgt[1])
    (g,) = torch.autograd.grad(v, x)
    v = float(v.detach())
    step = 0.1 * v / float((g * g).sum())  # small Armijo-style step
    v2 = float(a((x - step * g).detach(), tgt[1]))
    assert v2 < v


@pytest.mark.parametrize("name", ["l2", "mmd", "otdd-gaussian"])
def test_gradcheck(name):
    """Exact autograd check in float64 (otdd-exact treats its label costs as constants, so its
    gradient is deliberately not the full derivative and is checked by the step test above)."""
    src = blobs(6, 2, 3, seed=0)
    xt, yt = blobs(5, 1, 3, seed=3, shift=0.5)
    opts = {"tol": 1e-13, "max_iter": 20000, "reg": 0.5} if name.startswith("otdd") else {}
    a = make_aligner(name, **opts)
    a.prepare(*src)
    x = xt.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: a(z, yt), (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


# ---------------------------------------------------------------- OTDD specifics


def test_sinkhorn_matches_pot():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 4, generator=g, dtype=torch.float64)
    y = torch.randn(30, 4, generator=g, dtype=torch.float64) + 1.0
    C = D._sqdist(x, y)
    eps = 0.3
    a, b = torch.full((20,), 1 / 20, dtype=torch.float64), torch.full((30,), 1 / 30, dtype=torch.float64)
    P_pot = ot.sinkhorn(a, b, C, eps, method="sinkhorn_log", numItermax=100000, stopThr=1e-12)
    f, gg = D._sinkhorn_potentials(C[None], a.log()[None], b.log()[None], eps, tol=1e-12)
    P = (a.log()[:, None] + b.log()[None] + (f[0][:, None] + gg[0][None] - C) / eps).exp()
    assert torch.allclose(P, P_pot, atol=1e-9)
    # value = <P, C> + eps KL(P | a b)
    ref = float((P_pot * C).sum() + eps * (P_pot * (P_pot / (a[:, None] * b[None])).log()).sum())
    val = float(D.sinkhorn_cost(C[None], a.log()[None], b.log()[None], eps, tol=1e-12)[0])
    assert val == pytest.approx(ref, rel=1e-9)


def test_sinkhorn_stable_on_large_costs():
    """Costs in the hundreds/thousands with eps = 0.1 (width-768 features): no under/overflow."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 384, generator=g) * 1.5
    y = torch.randn(300, 384, generator=g) * 1.5 + 0.5
    C = 0.5 * D._sqdist(x, y)
    assert float(C.min()) > 100
    la, lb = torch.full((1, 64), -math.log(64)), torch.full((1, 300), -math.log(300))
    Cg = C.clone().requires_grad_(True)
    v = D.sinkhorn_cost(Cg[None], la, lb, 0.1)[0]
    v.backward()
    P = Cg.grad  # the plan
    assert torch.isfinite(v) and torch.isfinite(P).all()
    # marginals (L1 error; float32 potentials of size ~1e3 limit the precision to ~1e-4)
    assert float((P.sum(0) - 1 / 300).abs().sum()) < 2e-3
    assert float((P.sum(1) - 1 / 64).abs().sum()) < 2e-3
    # entropic value close to (and above) the unregularised OT value
    exact = float(ot.emd2(torch.full((64,), 1 / 64), torch.full((300,), 1 / 300), C))
    assert float(v.detach()) == pytest.approx(exact, rel=2e-3)


def test_bures_matches_pot():
    """Sample-based BW^2 (both the n <= D and n > D routes) equals POT's closed form."""
    src = blobs(40, 3, 5, seed=0)  # 40 > 5: D x D route
    a = make_aligner("otdd-gaussian")
    a.prepare(*src)
    assert a.s_sqrt is not None
    xt = blobs(30, 1, 5, seed=4, shift=1.0, scale=0.7)[0]
    tx, tlogw, tcounts = D._padded_classes(xt, torch.zeros(30, dtype=torch.long), 1)
    W_big = a._label_dist_ts(tx, tlogw, tcounts)[0]
    a.s_sqrt = None  # force the Gram (n x n) route
    W_gram = a._label_dist_ts(tx, tlogw, tcounts)[0]
    xs, ys = src
    ref = []
    for k in range(3):
        c = xs[ys == k]
        ms, mt = c.mean(0), xt.mean(0)
        Cs = torch.cov(c.T, correction=0)
        Ct = torch.cov(xt.T, correction=0)
        ref.append(float(ot.gaussian.bures_wasserstein_distance(ms, mt, Cs, Ct)) ** 2)
    assert np.allclose(W_big.numpy(), ref, rtol=1e-8)
    assert np.allclose(W_gram.numpy(), ref, rtol=1e-8)
    # source label-label distances too
    for i in range(3):
        for j in range(3):
            ci, cj = xs[ys == i], xs[ys == j]
            r = float(ot.gaussian.bures_wasserstein_distance(
                ci.mean(0), cj.mean(0), torch.cov(ci.T, correction=0), torch.cov(cj.T, correction=0))) ** 2
            assert float(a.W_ss[i, j]) == pytest.approx(r if i != j else 0.0, rel=1e-8, abs=1e-8)


def test_gaussian_gradients_safe_when_rank_deficient():
    """Few points in high dimension, duplicated points: no NaN anywhere."""
    src = blobs(20, 3, 64, seed=0, dtype=torch.float32)
    x = blobs(8, 1, 64, seed=5, dtype=torch.float32)[0]
    x = torch.cat([x, x[:4], x[:1].repeat(4, 1)]).requires_grad_(True)
    a = make_aligner("otdd-gaussian")
    a.prepare(*src)
    v = a(x, torch.zeros(16, dtype=torch.long))
    v.backward()
    assert torch.isfinite(v) and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
    # a single-point class (zero covariance) as well
    x1 = x[:1].detach().clone().requires_grad_(True)
    v1 = a(x1, torch.zeros(1, dtype=torch.long))
    v1.backward()
    assert torch.isfinite(v1) and torch.isfinite(x1.grad).all()


def test_gaussian_and_exact_agree_in_ranking():
    """On Gaussian data the two label-distance modes order targets the same way."""
    src = blobs(60, 3, 4, seed=0)
    settings = [(0.0, 1.0), (0.3, 2.0), (1.0, 0.5), (1.5, 1.5), (2.5, 1.0), (0.0, 3.0)]
    targets = [blobs(40, 3, 4, seed=7 + i, shift=s, scale=c) for i, (s, c) in enumerate(settings)]
    ranks = {}
    vals = {}
    for name in ("otdd-exact", "otdd-gaussian"):
        a = make_aligner(name)
        a.prepare(*src)
        vals[name] = np.array([float(a(*t)) for t in targets])
        ranks[name] = vals[name].argsort().argsort()
    assert (ranks["otdd-exact"] == ranks["otdd-gaussian"]).all(), vals
    # values agree up to the finite-sample bias of the exact inner OT (largest near 0)
    gap = np.abs(vals["otdd-exact"] - vals["otdd-gaussian"])
    assert gap.max() < 0.15 * vals["otdd-gaussian"].max(), vals


def test_label_aware():
    """OTDD sees labels: swapping the target labels between two far-apart classes changes
    nothing (labels are matched by cost, not name) but mixing labels within clusters does."""
    src = blobs(40, 2, 4, seed=0, spread=4.0)
    xt, yt = blobs(40, 2, 4, seed=1, spread=4.0)
    for name in ("otdd-exact", "otdd-gaussian"):
        base = float(dist(name, src, (xt, yt))[0])
        renamed = float(dist(name, src, (xt, 1 - yt))[0])
        g = torch.Generator().manual_seed(0)
        mixed = float(dist(name, src, (xt, yt[torch.randperm(80, generator=g)]))[0])
        assert renamed == pytest.approx(base, rel=1e-3)
        assert mixed > base + 1.0


# ---------------------------------------------------------------- otdd-sliced


def test_sliced_registered_and_generic_properties(data):
    """Same contract as the other distances: finite, >= 0, non-zero finite gradient, d(D, D) = 0
    for a reordering, small for a resample, symmetric, deterministic, float32 follows input."""
    assert ALIGNERS["otdd-sliced"] is D.OTDDSlicedAligner
    a = make_aligner("otdd-sliced", reg=0.1, max_source=100)  # shared options accepted
    assert a.trains_embedder and a.name == "otdd-sliced"
    src, tgt = data
    v, x = dist("otdd-sliced", src, tgt, grad=True)
    assert v.ndim == 0 and torch.isfinite(v) and float(v.detach()) > 1e-3
    v.backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0
    perm = torch.randperm(len(src[1]), generator=torch.Generator().manual_seed(0))
    v_self = float(dist("otdd-sliced", src, (src[0][perm], src[1][perm]))[0])
    assert abs(v_self) <= 1e-9 * float(v.detach())
    assert float(dist("otdd-sliced", src, blobs(40, 3, 6, seed=9))[0]) < 0.5 * float(v.detach())
    ba = float(dist("otdd-sliced", tgt, src)[0])
    assert ba == pytest.approx(float(v.detach()), rel=1e-9)
    assert float(dist("otdd-sliced", src, tgt)[0]) == float(v.detach())
    v32 = dist("otdd-sliced", (src[0].float(), src[1]), (tgt[0].float(), tgt[1]))[0]
    assert v32.dtype == torch.float32 and float(v32) == pytest.approx(float(v.detach()), rel=1e-5)


def test_sliced_matches_pot_sliced_wasserstein():
    """Our cached quantile formula equals POT's sliced W2 on the augmented clouds (same
    directions), unequal sample sizes included."""
    src = blobs(37, 4, 5, seed=0)
    tgt = blobs(11, 2, 5, seed=3, shift=0.4, scale=1.3)
    a = make_aligner("otdd-sliced", n_projections=40)
    a.prepare(*src)
    zs, zt = a.augment(*src), a.augment(*tgt)
    assert zs.shape == (148, 15)
    ref = float(ot.sliced_wasserstein_distance(zs, zt, projections=a.theta, p=2)) ** 2 * 15
    assert float(a(*tgt)) == pytest.approx(ref, rel=1e-10)
    # directions: unit norm, more projections than dimensions handled by blocks
    th = make_aligner("otdd-sliced", n_projections=40).directions(15)
    assert th.shape == (15, 40) and torch.allclose(th.norm(dim=0), torch.ones(40, dtype=th.dtype))


def test_sliced_translation_scale():
    """Translating every feature by v costs about |v|^2 (the 3D scaling of the sliced value)."""
    src = blobs(60, 3, 8, seed=0)
    v = torch.full((8,), 0.5, dtype=torch.float64)  # |v|^2 = 2
    a = make_aligner("otdd-sliced")
    a.prepare(*src)
    assert float(a(src[0] + v, src[1])) == pytest.approx(2.0, rel=0.15)


def test_sliced_increases_with_shift_and_gradient_step():
    src = blobs(40, 3, 6, seed=0)
    vals = [float(dist("otdd-sliced", src, blobs(25, 3, 6, seed=2, shift=s))[0])
            for s in (0.0, 0.5, 1.0, 2.0)]
    assert all(b > a for a, b in zip(vals, vals[1:])), vals
    a = make_aligner("otdd-sliced")
    a.prepare(*src)
    xt, yt = blobs(25, 3, 6, seed=2, shift=1.0)
    x = xt.clone().requires_grad_(True)
    val = a(x, yt)
    (g,) = torch.autograd.grad(val, x)
    val = float(val.detach())
    step = 0.1 * val / float((g * g).sum())
    assert float(a((x - step * g).detach(), yt)) < val


def test_sliced_gradcheck_and_degenerate_classes():
    src = blobs(6, 2, 3, seed=0)
    xt, yt = blobs(5, 1, 3, seed=3, shift=0.5)
    a = make_aligner("otdd-sliced", n_projections=16)
    a.prepare(*src)
    x = xt.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: a(z, yt), (x,), eps=1e-6, atol=1e-5, rtol=1e-3)
    # single point, duplicated points, one-class target (align loop): finite gradients
    for xx in (xt[:1], torch.cat([xt[:2], xt[:2]]), xt[:1].repeat(4, 1)):
        xx = xx.clone().requires_grad_(True)
        v = a(xx, torch.zeros(xx.shape[0], dtype=torch.long))
        v.backward()
        assert torch.isfinite(v) and torch.isfinite(xx.grad).all()


def test_sliced_label_aware():
    """Renaming labels changes nothing; mixing labels within clusters changes the value."""
    src = blobs(40, 2, 4, seed=0, spread=4.0)
    xt, yt = blobs(40, 2, 4, seed=1, spread=4.0)
    base = float(dist("otdd-sliced", src, (xt, yt))[0])
    assert float(dist("otdd-sliced", src, (xt, 1 - yt))[0]) == pytest.approx(base, rel=1e-9)
    g = torch.Generator().manual_seed(0)
    mixed = float(dist("otdd-sliced", src, (xt, yt[torch.randperm(80, generator=g)]))[0])
    assert mixed > base + 1.0
    # a one-class target against its own source class ~ 0, against the whole source far
    (xs, ys) = src
    one = (xs[ys == 1], ys[ys == 1])
    assert abs(float(dist("otdd-sliced", one, one)[0])) < 1e-9
    assert float(dist("otdd-sliced", src, one)[0]) > 1.0


def rank_pairs(d=6, k=4, seed0=20):
    """One source and 8 targets with different shifts / spreads / label structure."""
    src = blobs(50, k, d, seed=0)
    g = torch.Generator().manual_seed(99)
    targets = []
    for i, (shift, scale, mode) in enumerate([(0.0, 1.0, "same"), (0.4, 1.0, "same"),
                                              (1.0, 1.0, "same"), (0.0, 2.0, "same"),
                                              (0.0, 1.0, "swap"), (0.0, 1.0, "shuffle"),
                                              (2.0, 0.5, "same"), (0.7, 1.5, "fewer")]):
        x, y = blobs(30, k, d, seed=seed0 + i, shift=shift, scale=scale)
        if mode == "swap":  # classes 0 and 1 carry each other's labels (a real label shift)
            y = torch.where(y == 0, 1, torch.where(y == 1, 0, y))
            keep = y != 3  # unequal class sets make the label matching matter
            x, y = x[keep], y[keep]
        elif mode == "shuffle":
            y = y[torch.randperm(len(y), generator=g)]
        elif mode == "fewer":
            keep = y < 2
            x, y = x[keep], y[keep]
        targets.append((x, y))
    return src, targets


def test_sliced_rank_correlation_with_exact():
    from scipy.stats import spearmanr

    src, targets = rank_pairs()
    vals = {}
    for name in ("otdd-exact", "otdd-sliced"):
        a = make_aligner(name)
        a.prepare(*src)
        vals[name] = [float(a(*t)) for t in targets]
    rho = spearmanr(vals["otdd-exact"], vals["otdd-sliced"]).statistic
    assert rho >= 0.8, (rho, vals)


def test_every_aligner_is_a_built_in_align_method_that_builds_it():
    from orca.align.catalog import trains_embedder
    from orca.align.distances import ALIGNERS
    from orca.methods import get_method

    for name, cls in ALIGNERS.items():
        assert trains_embedder(name) == getattr(cls, "trains_embedder", True)
        if trains_embedder(name):
            assert type(get_method(name).make_aligner()) is cls
