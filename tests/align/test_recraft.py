"""RECRAFT's losses (orca/align/recraft.py) against independent closed forms and a plain reference Sinkhorn."""
import math

import numpy as np
import pytest
import torch

from orca.align.recraft import entropy_loss, fa_aligner, fa_loss, label_matching_loss, tau_penalty


def _clouds(ns=40, nt=12, d=3, seed=0):
    """Source (ns, d) and target (nt, d) float64 clouds, spread ~0.3 so Sinkhorn at eps 0.1 converges quickly."""
    g = torch.Generator().manual_seed(seed)
    xs = 0.4 * torch.randn(ns, d, generator=g, dtype=torch.float64)
    xt = 0.3 * torch.randn(nt, d, generator=g, dtype=torch.float64) + 0.3
    return xs, xt


def _plan(C, eps, iters=20000, tol=1e-13):
    """Entropic OT between uniform weights by plain log-domain Sinkhorn (float64, to a 1e-13 marginal error):
    the plan P and the value <P, C> + eps KL(P | a b)."""
    n, m = C.shape
    la, lb = torch.full((n,), -math.log(n), dtype=C.dtype), torch.full((m,), -math.log(m), dtype=C.dtype)
    f, g = torch.zeros(n, dtype=C.dtype), torch.zeros(m, dtype=C.dtype)
    for _ in range(iters):
        f = -eps * torch.logsumexp(lb[None] + (g[None] - C) / eps, 1)
        g = -eps * torch.logsumexp(la[:, None] + (f[:, None] - C) / eps, 0)
        P = (la[:, None] + lb[None] + (f[:, None] + g[None] - C) / eps).exp()
        if float((P.sum(1) - la.exp()).abs().sum()) < tol:
            break
    value = float((P * C).sum() + eps * (P * (P / (la.exp()[:, None] * lb.exp()[None])).log()).sum())
    return P, value


def _sqd(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def _divergence(x, y, half: bool, eps=0.1):
    """S_eps(x, y) = OT(x, y) - OT(x, x)/2 - OT(y, y)/2 with cost |x - y|^2 (halved if ``half``) from
    :func:`_plan`; also the plans (P_xy, Q_yy)."""
    f = 0.5 if half else 1.0
    P, v_xy = _plan(f * _sqd(x, y), eps)
    _, v_xx = _plan(f * _sqd(x, x), eps)
    Q, v_yy = _plan(f * _sqd(y, y), eps)
    return v_xy - 0.5 * v_xx - 0.5 * v_yy, P, Q


@pytest.mark.parametrize("solver", ["converged", "original"])
def test_fa_loss_between_two_diracs_is_the_squared_distance_and_only_half_of_it_has_a_gradient(solver):
    # one point per side: every coupling is the product, OT_eps = the cost, S = c(s, t); the label distance
    # |s - t|^2 enters halved and detached, so value = |s - t|^2 and gradient = d/dt (|s - t|^2 / 2) only
    s, t = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64), torch.tensor([1.1, 0.5, 1.2], dtype=torch.float64)
    src = s.repeat(30, 1)
    x = t.repeat(6, 1).requires_grad_(True)
    n_batches = 4
    loss = fa_loss(x, fa_aligner(src, solver=solver), n_batches)
    d2 = float(((s - t) ** 2).sum())
    assert float(loss.detach()) == pytest.approx(6 / n_batches * d2, rel=1e-6)
    loss.backward()
    expected = ((t - s) / n_batches).repeat(6, 1)  # (N_t / n_b) * (1 / N_t) * (t - s) per row
    assert torch.allclose(x.grad, expected, rtol=1e-6, atol=1e-9)


def test_fa_loss_is_the_half_cost_divergence_plus_half_the_detached_full_cost_divergence():
    xs, xt = _clouds()
    s_half, P, Q = _divergence(xs, xt, half=True)
    s_full, _, _ = _divergence(xs, xt, half=False)
    x = xt.clone().requires_grad_(True)
    aligner = fa_aligner(xs, solver="converged", tol=1e-10, inner_tol=1e-10)
    n_batches = 5
    loss = fa_loss(x, aligner, n_batches)
    w = len(xt) / n_batches
    assert float(loss.detach()) == pytest.approx(w * (s_half + 0.5 * s_full), rel=1e-9)
    loss.backward()
    # gradient of S_eps(xs, xt; |.|^2 / 2) w.r.t. target row j: sum_i P_ij (y_j - x_i) - sum_k Q_jk (y_j - y_k)
    grad = (P.sum(0)[:, None] * xt - P.T @ xs) - (Q.sum(1)[:, None] * xt - Q @ xt)
    assert torch.allclose(x.grad, w * grad, rtol=1e-5, atol=1e-8)


def test_fa_loss_original_solver_is_close_to_the_converged_value_and_pools_tokens():
    xs, xt = _clouds(seed=1)
    conv = float(fa_loss(xt, fa_aligner(xs, solver="converged", tol=1e-10, inner_tol=1e-10), 3))
    tokens = xt[:, None, :].repeat(1, 4, 1)  # (N, T, D): mean over T gives xt back
    orig = float(fa_loss(tokens, fa_aligner(xs, solver="original"), 3))
    assert orig == pytest.approx(conv, rel=2e-2)


def test_fa_loss_of_a_single_target_sample_is_a_connected_zero():
    xs, xt = _clouds()
    x = xt[:1].clone().requires_grad_(True)
    loss = fa_loss(x, fa_aligner(xs, solver="converged"), 2)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.equal(x.grad, torch.zeros_like(x))


def test_entropy_is_of_the_mean_probability_with_the_epsilon_in_the_log():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(7, 5, generator=g), -1)
    p = probs.numpy().astype(np.float64).mean(0)
    assert float(entropy_loss(probs)) == pytest.approx(-(p * np.log(p + 1e-10)).sum(), rel=1e-6)
    assert float(entropy_loss(torch.full((3, 4), 0.25))) == pytest.approx(math.log(4), rel=1e-6)
    assert abs(float(entropy_loss(torch.eye(3)[[1, 1]]))) < 1e-8  # every sample certain of one class: 0
    # per-token outputs (n, T, C): the entropies of the per-token means add up over T
    tok = torch.softmax(torch.randn(6, 3, 4, generator=g), -1)
    m = tok.double().mean(0)
    assert float(entropy_loss(tok)) == pytest.approx(float(-(m * (m + 1e-10).log()).sum()), rel=1e-6)


def test_label_matching_loss_weights_the_entropy_by_class_share_and_chunk_size_over_batches():
    probs = torch.softmax(torch.randn(16, 10, generator=torch.Generator().manual_seed(2)), -1).requires_grad_(True)
    loss = label_matching_loss(probs, class_weight=0.3, n_batches_in_class=7)
    assert float(loss.detach()) == pytest.approx(0.3 * 16 / 7 * float(entropy_loss(probs).detach()), rel=1e-7)
    loss.backward()
    assert probs.grad is not None and torch.isfinite(probs.grad).all()


def test_tau_penalty_takes_the_norm_over_the_token_axis():
    g = torch.Generator().manual_seed(0)
    grad = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    norms = np.linalg.norm(grad.numpy(), axis=1)  # (B, D)
    expected = 100 / 3 * (np.maximum(0.0, norms - 0.4) ** 2).sum()
    assert float(tau_penalty(grad, tau=0.4, rho=100)) == pytest.approx(expected, rel=1e-12)
    # per-sample norms above tau, every per-(sample, feature) norm over tokens below: no penalty
    small = torch.full((2, 4, 25), 0.1, dtype=torch.float64)  # |g| over 4 tokens = 0.2 < 0.4; per sample 1.0
    assert float(tau_penalty(small, tau=0.4, rho=100)) == 0.0
    # a (B, D) gradient: one norm per sample
    flat = torch.tensor([[0.3, 0.4], [0.0, 0.1]], dtype=torch.float64)
    assert float(tau_penalty(flat, tau=0.4, rho=10)) == pytest.approx(10 / 2 * (0.5 - 0.4) ** 2)


def test_tau_penalty_of_a_create_graph_gradient_trains_the_head():
    torch.manual_seed(0)
    z = torch.randn(4, 6, 3, requires_grad=True)
    head = torch.nn.Linear(3, 5)
    ce = torch.nn.functional.cross_entropy(head(z.mean(1)), torch.tensor([0, 1, 2, 3]))
    (gz,) = torch.autograd.grad(ce, z, create_graph=True)
    pen = tau_penalty(gz, tau=0.0, rho=100)
    pen.backward()
    assert float(pen.detach()) > 0 and head.weight.grad is not None and float(head.weight.grad.abs().sum()) > 0
