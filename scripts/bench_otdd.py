#!/usr/bin/env python
"""Time ORCA's align-stage distances on synthetic features (CPU, 2 threads by default).

Source: 5,000 features in 10 labelled Gaussian blobs. Target: 10 classes x 128 samples at
D = 768 and 5 classes x 64 at D = 384 (blobs with other means and spread). One "align epoch" =
for each target class: aligner(class features, requires_grad) then .backward(), as ORCA's align
loop does. Reported: seconds for prepare() (once per align run) and per epoch (median over
repeats), against the targets of the issue, plus the self-distance d(S, S) of each aligner.

    python scripts/bench_otdd.py [--quick] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from orca.align import distances as D
from orca.align.distances import make_aligner

# (D, target classes, samples per class) -> seconds per epoch allowed for otdd-exact / -gaussian
CONFIGS = [(768, 10, 128, {"otdd-exact": 6.0, "otdd-gaussian": 8.0}),
           (384, 5, 64, {"otdd-exact": 2.0, "otdd-gaussian": 2.0})]
NAMES = ["l2", "mmd", "otdd-exact", "otdd-gaussian"]


def synthetic(n_source: int, d: int, n_cls: int, n_per: int, seed: int = 0):
    """Source (n_source, d) in 10 blobs with labels; target list of (n_per, d) class tensors.

    Scales mimic pooled transformer features: |x - x'|^2 is in the hundreds.
    """
    g = torch.Generator().manual_seed(seed)
    s_means = 0.7 * torch.randn(10, d, generator=g)
    ys = torch.arange(n_source) % 10
    xs = s_means[ys] + 0.5 * torch.randn(n_source, d, generator=g)
    t_means = 0.7 * torch.randn(n_cls, d, generator=g) + 0.2
    targets = [t_means[c] + 0.6 * torch.randn(n_per, d, generator=g) for c in range(n_cls)]
    return xs, ys, targets


def run_epoch(aligner, targets) -> float:
    """One align epoch (forward + backward per class); returns wall seconds."""
    t0 = time.perf_counter()
    for c, feats in enumerate(targets):
        x = feats.clone().requires_grad_(True)
        v = aligner(x, torch.full((x.shape[0],), c, dtype=torch.long))
        v.backward()
        if not torch.isfinite(v) or not torch.isfinite(x.grad).all():
            raise RuntimeError(f"{aligner.name}: non-finite value or gradient")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 timed epoch, self-distance on 1,000 points")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs (after 1 warm-up)")
    ap.add_argument("--n-source", type=int, default=5000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    n_self = 1000 if args.quick else args.n_source

    rows = []
    for d, n_cls, n_per, limits in CONFIGS:
        xs, ys, targets = synthetic(args.n_source, d, n_cls, n_per)
        for name in NAMES:
            al = make_aligner(name)
            t0 = time.perf_counter()
            al.prepare(xs, ys)
            t_prep = time.perf_counter() - t0
            run_epoch(al, targets)  # warm-up
            D.SOLVER_STATS.update(calls=0, iters=0, max_iter_hit=0)
            times = [run_epoch(al, targets) for _ in range(repeats)]
            st = dict(D.SOLVER_STATS)
            iters = st["iters"] / st["calls"] if st["calls"] else 0.0
            # self-distance d(S, S): prepare and evaluate on the same (sub)set
            al_self = make_aligner(name, max_source=n_self)
            al_self.prepare(xs, ys)
            xsub, ysub = D._subsample(xs, ys, n_self, 0)
            with torch.no_grad():
                self_d = float(al_self(xsub, ysub))
            epoch = statistics.median(times)
            limit = limits.get(name)
            ok = "" if limit is None else ("ok" if epoch <= limit else "SLOW")
            rows.append((f"D={d} {n_cls}x{n_per}", name, t_prep, epoch, min(times),
                         "" if limit is None else f"{limit:.0f}", ok, iters, st["max_iter_hit"], self_d))
            print(f"  done {rows[-1][0]} {name}", flush=True)

    hdr = ("target", "aligner", "prepare s", "epoch s (med)", "epoch s (min)", "limit s", "",
           "sinkhorn it/call", "max_iter hit", f"d(S,S) n={n_self}")
    print()
    print(f"source {args.n_source} x D in 10 blobs, torch threads {args.threads}, "
          f"{repeats} timed epoch(s); torch {torch.__version__}")
    fmt = "{:<15} {:<14} {:>9} {:>13} {:>13} {:>7} {:>4} {:>16} {:>12} {:>14}"
    print(fmt.format(*hdr))
    for r in rows:
        print(fmt.format(r[0], r[1], f"{r[2]:.2f}", f"{r[3]:.3f}", f"{r[4]:.3f}", r[5], r[6],
                         f"{r[7]:.0f}", r[8], f"{r[9]:.3g}"))


if __name__ == "__main__":
    main()
