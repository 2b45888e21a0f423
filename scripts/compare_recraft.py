#!/usr/bin/env python
"""Compare RECRAFT's released losses with ours (orca/align/recraft.py) on identical random inputs.

A scratch comparison, not a test: it runs code of the released repositories, which orca-bench does not vendor.
Pass the paths of scratch checkouts (e.g. ``git archive`` of github.com/khiembk/RECRAFT at abc2a04 and of
github.com/sjunhongshen/ORCA at 19b8c1c, whose ``src/otdd`` RECRAFT imports) and have geomloss 0.2.x importable
(e.g. ``pip install --target /tmp/pylib geomloss==0.2.6`` and ``PYTHONPATH=/tmp/pylib``)::

    PYTHONPATH=/tmp/pylib python scripts/compare_recraft.py --recraft /tmp/RECRAFT --orca /tmp/ORCA

Nothing of RECRAFT is imported as a module (its ``newEmbedder.py`` needs its data loaders, torchvision and the
hub): the functions ``otdd`` and ``Entropy_loss`` are compiled alone from its source, and the statements that
build the tau penalty and the label matching loss are taken out of ``get_pretrain_model2D_feature_with_tau`` and
``label_matching_by_entropy`` and run on our inputs. otdd's plotting/matching helpers need adjustText and munkres,
which no distance uses; they are stubbed when missing. Printed: values, their differences and, for FA, the
cosine between the gradients with respect to the target features (released vs ours, both solvers).
"""
from __future__ import annotations

import argparse
import ast
import math
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F


def _released_source(recraft: Path) -> tuple[str, ast.Module]:
    text = (recraft / "src" / "newEmbedder.py").read_text()
    return text, ast.parse(text)


def released_functions(recraft: Path, names: tuple[str, ...], namespace: dict) -> dict:
    """Compile the top-level functions ``names`` of RECRAFT's newEmbedder.py alone into ``namespace``."""
    _, tree = _released_source(recraft)
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    missing = set(names) - {d.name for d in defs}
    if missing:
        raise SystemExit(f"{recraft}: no function(s) {sorted(missing)} in src/newEmbedder.py")
    exec(compile(ast.Module(body=defs, type_ignores=[]), "newEmbedder.py", "exec"), namespace)
    return namespace


def released_statements(recraft: Path, function: str, targets: tuple[str, ...]) -> list[ast.stmt]:
    """The assignments to ``targets`` inside ``function`` of newEmbedder.py, in source order (first of each)."""
    _, tree = _released_source(recraft)
    fn = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function)
    found: dict[str, ast.stmt] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in targets and name not in found:
                found[name] = node
    missing = set(targets) - set(found)
    if missing:
        raise SystemExit(f"{recraft}: {function} assigns no {sorted(missing)}")
    return sorted(found.values(), key=lambda n: n.lineno)


def run_statements(stmts: list[ast.stmt], namespace: dict) -> dict:
    exec(compile(ast.Module(body=stmts, type_ignores=[]), "newEmbedder.py", "exec"), namespace)
    return namespace


def import_otdd(orca: Path):
    sys.path.insert(0, str(orca / "src" / "otdd"))
    for name in ("adjustText", "munkres"):  # plotting / matching helpers of otdd; no distance uses them
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = mock.MagicMock()
    from otdd.pytorch.distance import DatasetDistance  # noqa: E402

    return DatasetDistance


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()))


def synthetic_fa(n_source: int, n_target: int, d: int, seed: int = 0):
    """Pooled-feature-like inputs (|x - x'|^2 in the hundreds at d = 768): source in 10 blobs, target a mixture
    of 4 other blobs (one unlabelled draw of several classes, as an FA epoch takes)."""
    g = torch.Generator().manual_seed(seed)
    s_means = 0.7 * torch.randn(10, d, generator=g)
    xs = s_means[torch.arange(n_source) % 10] + 0.5 * torch.randn(n_source, d, generator=g)
    t_means = 0.7 * torch.randn(4, d, generator=g) + 0.2
    xt = t_means[torch.arange(n_target) % 4] + 0.6 * torch.randn(n_target, d, generator=g)
    return xs, xt


def compare_fa(ns: dict, xs: torch.Tensor, xt: torch.Tensor, n_batches: int) -> dict:
    """The released FA (newEmbedder.py:710: (N_t / len(loader)) * otdd(feats), src labels 0) against ours."""
    from orca.align.recraft import fa_aligner, fa_loss

    src = torch.utils.data.TensorDataset(xs, torch.zeros(len(xs), dtype=torch.long))
    out = {}
    x = xt.clone().requires_grad_(True)
    t0 = time.perf_counter()
    released = (len(x) / n_batches) * ns["otdd"](x, src_train_dataset=src, exact=True)
    released.backward()
    out["released"] = (float(released.detach()), x.grad.clone(), time.perf_counter() - t0)
    for solver in ("original", "converged"):
        x = xt.clone().requires_grad_(True)
        t0 = time.perf_counter()
        ours = fa_loss(x, fa_aligner(xs, solver=solver), n_batches)
        ours.backward()
        out[solver] = (float(ours.detach()), x.grad.clone(), time.perf_counter() - t0)
    return out


def compare_entropy(ns: dict, recraft: Path, n: int, classes: int, weight: float, n_batches: int, seed: int = 0):
    """The released chunk loss (newEmbedder.py:888 and 900: w_c * (datanum / len(loader_c)) * Entropy_loss(probs))
    against label_matching_loss; values and gradients with respect to the logits."""
    from orca.align.recraft import label_matching_loss

    g = torch.Generator().manual_seed(seed)
    logits = 3.0 * torch.randn(n, classes, generator=g)
    stmts = released_statements(recraft, "label_matching_by_entropy", ("loss",))
    z1 = logits.clone().requires_grad_(True)
    env = run_statements(stmts, {**ns, "tgt_class_weights": {0: weight}, "i": 0, "datanum": n,
                                 "tgt_train_loaders": {0: range(n_batches)},
                                 "dummy_probs_tensor": F.softmax(z1, dim=-1)})
    env["loss"].backward()
    z2 = logits.clone().requires_grad_(True)
    ours = label_matching_loss(F.softmax(z2, dim=-1), weight, n_batches)
    ours.backward()
    return float(env["loss"].detach()), float(ours.detach()), float((z1.grad - z2.grad).abs().max())


def compare_tau(recraft: Path, batch: int, tokens: int, d: int, tau: float, rho: float, gain: float = 1.0,
                seed: int = 0):
    """The released penalty statements (newEmbedder.py:471-478, run as written) against tau_penalty, on the
    cross-entropy of a fixed random stand-in body (``gain`` x tanh layer, mean over tokens, Linear head; the gain
    scales dCE/dz so that the penalty is active at tau 0.4); values and the head's gradient of CE + penalty."""
    from orca.align.recraft import tau_penalty

    g = torch.Generator().manual_seed(seed)
    z0 = torch.randn(batch, tokens, d, generator=g)
    w = torch.randn(d, d, generator=g) / math.sqrt(d)
    y = torch.randint(0, 10, (batch,), generator=g)
    head0 = torch.nn.Linear(d, 10)
    with torch.no_grad():
        head0.weight.copy_(torch.randn(10, d, generator=g) / math.sqrt(d))
        head0.bias.zero_()
    stmts = released_statements(recraft, "get_pretrain_model2D_feature_with_tau",
                                ("grad_z", "grad_norm", "reg_term", "reg_loss"))
    results = []
    for released in (True, False):
        head = torch.nn.Linear(d, 10)
        head.load_state_dict(head0.state_dict())
        z = z0.clone().requires_grad_(True)
        loss_s = F.cross_entropy(head(gain * torch.tanh(z @ w).mean(1)), y)
        if released:
            env = run_statements(stmts, {"torch": torch, "loss_s": loss_s, "z": z, "tau": tau, "rho": rho, "y_": y})
            reg = env["reg_loss"]
        else:
            (grad,) = torch.autograd.grad(loss_s, z, create_graph=True)
            reg = tau_penalty(grad, tau, rho)
        (loss_s + reg).backward()
        results.append((float(reg.detach()), head.weight.grad.clone()))
    (r_rel, g_rel), (r_ours, g_ours) = results
    return r_rel, r_ours, float((g_rel - g_ours).abs().max()), float(g_rel.abs().max())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recraft", type=Path, required=True, help="scratch checkout of khiembk/RECRAFT")
    p.add_argument("--orca", type=Path, required=True, help="scratch checkout of sjunhongshen/ORCA (its src/otdd)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-source", type=int, default=5000)
    p.add_argument("--fa", default="128:132:100,768:160:100",
                   help="FA cases D:N_t:n_batches, comma-separated (defaults: a Swin-like 2D draw, bs 4 / "
                        "maxsamples 128 -> 132 rows; a RoBERTa-like 1D draw, bs 32 -> 160 rows)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    DatasetDistance = import_otdd(args.orca)
    ns = released_functions(args.recraft, ("otdd", "Entropy_loss"),
                            {"torch": torch, "np": np, "DatasetDistance": DatasetDistance})
    print(f"RECRAFT {args.recraft}, ORCA otdd {args.orca / 'src' / 'otdd'}, torch {torch.__version__}, "
          f"geomloss {__import__('geomloss').__version__}, {args.threads} threads")

    print("\n## Feature alignment: (N_t / n_batches) * OTDD(source labels 0, target one label)")
    print("| D | N_s | N_t | n_batches | released | ours original | ours converged | rel. diff original | "
          "rel. diff converged | cos grad (original) | cos grad (converged) | |grad| ratio original | seconds "
          "released / original / converged |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in args.fa.split(","):
        d, nt, nb = (int(v) for v in case.split(":"))
        xs, xt = synthetic_fa(args.n_source, nt, d)
        r = compare_fa(ns, xs, xt, nb)
        (vr, gr, tr), (vo, go, to), (vc, gc, tc) = r["released"], r["original"], r["converged"]
        print(f"| {d} | {args.n_source} | {nt} | {nb} | {vr:.6f} | {vo:.6f} | {vc:.6f} | {(vo - vr) / vr:.2e} | "
              f"{(vc - vr) / vr:.2e} | {_cos(go, gr):.6f} | {_cos(gc, gr):.6f} | {float(go.norm() / gr.norm()):.6f} | "
              f"{tr:.1f} / {to:.1f} / {tc:.1f} |")

    print("\n## Label matching chunk loss: w_c * (n / n_batches_c) * H(mean softmax)")
    print("| n | C | w_c | n_batches_c | released | ours | diff | max |grad diff| (logits) |")
    print("|---|---|---|---|---|---|---|---|")
    for n, c, w, nb in ((16, 10, 0.1, 40), (28, 9, 0.37, 12), (5, 10, 1.0, 1)):
        vr, vo, gd = compare_entropy(ns, args.recraft, n, c, w, nb)
        print(f"| {n} | {c} | {w} | {nb} | {vr:.9f} | {vo:.9f} | {vo - vr:.2e} | {gd:.2e} |")

    print("\n## Source head tau penalty: (rho / B) * sum max(0, |dCE/dz|_(token axis) - tau)^2")
    print("| B | T | D | tau | rho | gain | released | ours | diff | max |head grad diff| | max |head grad| |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for b, t, d, tau, gain in ((4, 196, 128, 0.4, 1.0), (4, 196, 128, 1e-3, 1.0), (4, 196, 128, 0.4, 500.0),
                               (4, 3136, 128, 0.4, 5000.0)):
        r_rel, r_ours, gd, gmax = compare_tau(args.recraft, b, t, d, tau, 100.0, gain)
        print(f"| {b} | {t} | {d} | {tau} | 100 | {gain:g} | {r_rel:.9g} | {r_ours:.9g} | {r_ours - r_rel:.2e} | "
              f"{gd:.2e} | {gmax:.3e} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
