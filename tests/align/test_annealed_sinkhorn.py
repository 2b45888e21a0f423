"""The released code's align solver (geomloss 0.2.x annealed Sinkhorn) against independent statements.

The gradient agreement with geomloss 0.2.x itself (cosine >= 0.999 through ORCA's vendored otdd) is
measured outside the test suite (geomloss is no dependency); see docs/fidelity.md.
"""
import math

import numpy as np
import pytest
import torch

from orca.align.annealed_sinkhorn import (OTDDExactOriginalSolver, OTDDGaussianOriginalSolver, annealed_potentials,
                                          bbox_diameter, eps_schedule, final_step)
from orca.align.distances import L2Aligner, OTDDExactAligner, make_aligner


def _problem(ns=300, nt=32, d=32, k=3, seed=0):
    """Source (ns, d) in k labelled blobs, one target class (nt, d); squared distances ~ 2 d x 0.5."""
    g = torch.Generator().manual_seed(seed)
    means = 0.7 * torch.randn(k, d, generator=g, dtype=torch.float64)
    ys = torch.arange(ns) % k
    xs = means[ys] + 0.5 * torch.randn(ns, d, generator=g, dtype=torch.float64)
    xt = 0.7 * torch.randn(d, generator=g, dtype=torch.float64) + 0.2 + 0.6 * torch.randn(nt, d, generator=g,
                                                                                          dtype=torch.float64)
    return xs, ys, xt


def _value_and_grad(aligner, xs, ys, xt):
    aligner.prepare(xs, ys)
    x = xt.clone().requires_grad_(True)
    v = aligner(x, torch.zeros(len(x), dtype=torch.long))
    v.backward()
    return float(v.detach()), x.grad


def _cos(a, b):
    return float((a * b).sum() / (a.norm() * b.norm()))


@pytest.mark.parametrize("diameter,blur,scaling", [(110.0, math.sqrt(0.1), 0.5), (7.3, math.sqrt(0.1), 0.5),
                                                   (3.0, 0.2, 0.8), (0.1, math.sqrt(0.1), 0.5)])
def test_eps_schedule_is_geomloss_formula(diameter, blur, scaling):
    # geomloss 0.2.x epsilon_schedule, p = 2, as documented: [diameter^p] + [exp(e) for e in
    # arange(p log diameter, p log blur, p log scaling)] + [blur^p]
    p = 2
    expected = [diameter ** p] + [math.exp(e) for e in np.arange(p * math.log(diameter), p * math.log(blur),
                                                                 p * math.log(scaling))] + [blur ** p]
    assert eps_schedule(diameter, blur, scaling, p) == pytest.approx(expected, rel=1e-12)


def test_eps_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="scaling"):
        eps_schedule(10.0, 0.3, 1.5)


def test_bbox_diameter_with_label_coordinate_is_otdd_augmented_points():
    # otdd stacks (feature, relabelled class) points; source classes 0..Ks-1, target class Ks
    xs, ys, xt = _problem(ns=60, nt=10, d=5)
    z = torch.cat([torch.cat([xs, ys[:, None].double()], 1), torch.cat([xt, torch.full((10, 1), 3.0)], 1)])
    expected = float(torch.linalg.norm(z.amax(0) - z.amin(0)))
    assert bbox_diameter(xs, xt, extra_range=3.0) == pytest.approx(expected, rel=1e-12)


def test_final_step_gradient_is_geomloss_frozen_potential_gradient():
    # Independently: with potentials frozen and cost 0.5 |y - x|^2 differentiated through y only,
    # dS/dy_j = b_j [sum_i P_ji (y_j - x_i) - sum_k Q_jk (y_j - y_k)], P, Q row-softmaxes.
    xs, _, xt = _problem(ns=80, nt=12, d=6)
    eps, eps_list = 0.1, eps_schedule(bbox_diameter(xs, xt), math.sqrt(0.1))
    la = torch.full((80,), -math.log(80), dtype=torch.float64)
    lb = torch.full((12,), -math.log(12), dtype=torch.float64)
    sq = lambda a, b: ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    y = xt.clone().requires_grad_(True)
    C_ts, C_tt = 0.5 * sq(y, xs), 0.5 * sq(y, y.detach())
    pots = annealed_potentials(C_ts.detach().T, None, C_tt.detach(), la, lb, eps_list)
    final_step(C_ts, C_tt, la, lb, pots, eps, torch.zeros(80, dtype=torch.float64)).backward()
    f_ab, _, _, g_bb = pots
    P = torch.softmax(la + f_ab / eps - C_ts.detach() / eps, dim=1)
    Q = torch.softmax(lb + g_bb / eps - C_tt.detach() / eps, dim=1)
    expected = (P.sum(1, keepdim=True) * xt - P @ xs - (Q.sum(1, keepdim=True) * xt - Q @ xt)) / 12
    assert torch.allclose(y.grad, expected, rtol=1e-9, atol=1e-12)


def test_original_value_close_to_converged_but_gradient_not():
    # ORCA-like magnitude (values in the hundreds): the values agree to ~1e-3 relative (about eps),
    # the gradients do not (the original's potentials are never iterated to convergence)
    xs, ys, xt = _problem(ns=400, nt=32, d=256)
    v_orig, g_orig = _value_and_grad(make_aligner("otdd-exact", solver="original"), xs, ys, xt)
    v_conv, g_conv = _value_and_grad(make_aligner("otdd-exact", tol=1e-6, inner_tol=1e-6), xs, ys, xt)
    assert abs(v_orig - v_conv) < 1e-3 * abs(v_conv)
    assert abs(v_orig - v_conv) < 0.1 * 3  # a few eps
    assert _cos(g_orig, g_conv) < 0.999


def test_original_gradient_tends_to_converged_with_slow_cooling():
    # With many eps steps (scaling -> 1) the annealed potentials converge: same gradient and value
    xs, ys, xt = _problem()
    v_conv, g_conv = _value_and_grad(make_aligner("otdd-exact", tol=1e-7, inner_tol=1e-7), xs, ys, xt)
    v_fast, g_fast = _value_and_grad(make_aligner("otdd-exact", solver="original"), xs, ys, xt)
    v_slow, g_slow = _value_and_grad(make_aligner("otdd-exact", solver="original", scaling=0.98), xs, ys, xt)
    assert _cos(g_slow, g_conv) > 0.999 > _cos(g_fast, g_conv)
    assert abs(v_slow - v_conv) < abs(v_fast - v_conv)
    assert abs(v_slow - v_conv) < 5e-4 * abs(v_conv)


def test_original_exact_label_distances_close_to_converged():
    xs, ys, _ = _problem(ns=300, d=16)
    orig = make_aligner("otdd-exact", solver="original")
    conv = make_aligner("otdd-exact", inner_tol=1e-6)
    orig.prepare(xs, ys)
    conv.prepare(xs, ys)
    off = ~torch.eye(3, dtype=torch.bool)
    assert torch.allclose(orig.W_ss[off], conv.W_ss[off], rtol=1e-2)
    assert torch.equal(orig.W_ss, orig.W_ss.T) and float(orig.W_ss.diagonal().abs().max()) == 0.0


def test_original_gaussian_and_several_target_classes_run():
    xs, ys, xt = _problem(ns=200, nt=40, d=8)
    for al in (make_aligner("otdd-gaussian", solver="original"), make_aligner("otdd-exact", solver="original")):
        al.prepare(xs, ys)
        x = xt.clone().requires_grad_(True)
        v = al(x, torch.arange(40) % 2)
        v.backward()
        assert torch.isfinite(v) and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0


def test_make_aligner_solver_option():
    assert isinstance(make_aligner("otdd-exact", solver="original"), OTDDExactOriginalSolver)
    assert isinstance(make_aligner("otdd-gaussian", solver="original"), OTDDGaussianOriginalSolver)
    assert type(make_aligner("otdd-exact")) is OTDDExactAligner
    assert isinstance(make_aligner("l2", solver="original"), L2Aligner)  # no Sinkhorn: nothing to switch
    with pytest.raises(ValueError, match="converged, original"):
        make_aligner("otdd-exact", solver="geomloss")


@pytest.mark.parametrize("name", ["otdd-exact", "otdd-gaussian"])
def test_original_self_distance_zero_and_descent(name):
    # identical clouds run identical cross / self updates: S(D, D) = 0 up to the source self-term, cached
    # with the schedule of the source alone (here its class-id span is 3, the call's 5: 4e-5 in ~13)
    xs, ys, xt = _problem(ns=120, nt=24, d=8)
    al = make_aligner(name, solver="original")
    al.prepare(xs, ys)
    assert abs(float(al(xs, ys))) < 1e-5 * float(al(xt, torch.zeros(24, dtype=torch.long)))
    x = xt.clone().requires_grad_(True)
    v = al(x, torch.zeros(24, dtype=torch.long))
    v.backward()
    with torch.no_grad():
        assert float(al(x - 0.5 * x.grad / x.grad.norm(), torch.zeros(24, dtype=torch.long))) < float(v)
    assert al(xt.float(), torch.zeros(24, dtype=torch.long)).dtype == torch.float32
