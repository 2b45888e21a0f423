#!/usr/bin/env python
"""Time ORCA's align-stage distances on synthetic features (CPU, 2 threads by default).

Source: 5,000 features in 10 labelled Gaussian blobs. Target: 10 classes x 128 samples at
D = 768 and 5 classes x 64 at D = 384 (blobs with other means and spread). One "align epoch" =
for each target class: aligner(class features, requires_grad) then .backward(), as ORCA's align
loop does. Reported: seconds for prepare() (once per align run) and per epoch (median over
repeats), against the targets of the issue, plus the self-distance d(S, S) of each aligner.
otdd-exact / -gaussian run with both OT solvers: ``converged`` (ours, the clean protocol) and
``original`` (geomloss 0.2.x's annealed Sinkhorn as the released code runs it, the original protocol;
rows ``<name>/original``).

    python scripts/bench_otdd.py [--quick] [--threads 2] [--repeats 3] [--only otdd-exact ...]

Other modes:

``--scaling``: seconds per align epoch (10 target classes, D = 384, min of two timed epochs
after one warm-up, or the warm-up alone when it took over 30 s) of otdd-exact / -gaussian /
-sliced as (a) target samples per class go 64 -> 1024 (source 5,000) and (b) source samples
go 1,000 -> 50,000 (target 10 x 64). Every cell runs in a fresh spawned process, so the reported peak RSS (resource.getrusage ru_maxrss; tracemalloc
does not see torch's allocator) is that cell's own (it includes ~0.3 GB of torch import).
exact / gaussian build an Ns x Ns source-source cost in prepare(); sources above
``--max-dense-source`` (5,000) are skipped for them. ``--quick``: 64, 256 and 1k, 5k, 20k, 50k.

``--rank``: Spearman rank correlation of otdd-gaussian and otdd-sliced with otdd-exact over
one source and 16 synthetic targets (shifts, spreads, label shuffles / swaps / dropped classes).
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
# (aligner, OT solver) rows of the default mode
NAMES = [("l2", "converged"), ("mmd", "converged"), ("otdd-exact", "converged"), ("otdd-exact", "original"),
         ("otdd-gaussian", "converged"), ("otdd-gaussian", "original"), ("otdd-sliced", "converged")]


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


def _cell(q, name, n_source, n_per, threads):
    """One scaling measurement in a fresh process -> q.put((prepare s, epoch s, peak RSS MB))."""
    import resource

    torch.set_num_threads(threads)
    xs, ys, targets = synthetic(n_source, 384, 10, n_per)
    al = make_aligner(name)
    t0 = time.perf_counter()
    al.prepare(xs, ys)
    t_prep = time.perf_counter() - t0
    times = [run_epoch(al, targets)]  # warm-up, counted only if it is the only epoch
    while len(times) < 3 and sum(times) < 30.0:  # up to 2 timed epochs, min reported
        times.append(run_epoch(al, targets))
    epoch = min(times[1:]) if len(times) > 1 else times[0]
    q.put((t_prep, epoch, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


def scaling(args) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    per_class = [64, 256] if args.quick else [64, 256, 1024]
    sources = [1000, 5000, 20000, 50000]
    names = ["otdd-exact", "otdd-gaussian", "otdd-sliced"]
    cells = [("target/class", n, 5000, n) for n in per_class] + [("source", n, n, 64) for n in sources]
    fmt = "{:<13} {:>7} {:<14} {:>10} {:>10} {:>13}"
    print(f"scaling: 10 target classes, D=384, torch threads {args.threads}; epoch s = min of "
          f"2 timed epochs after 1 warm-up (the warm-up alone when it took > 30 s); "
          f"cell timeout {args.cell_timeout}s")
    print(fmt.format("vary", "n", "aligner", "prepare s", "epoch s", "peak RSS MB"))
    for vary, n, n_source, n_per in cells:
        for name in names:
            if name != "otdd-sliced" and n_source > args.max_dense_source:
                print(fmt.format(vary, n, name, "-", "-", f"skipped: Ns={n_source} > {args.max_dense_source}"))
                continue
            q = ctx.Queue()
            p = ctx.Process(target=_cell, args=(q, name, n_source, n_per, args.threads))
            p.start()
            p.join(args.cell_timeout)
            if p.is_alive():
                p.terminate()
                p.join()
                print(fmt.format(vary, n, name, "-", f">{args.cell_timeout}", "timeout"), flush=True)
                continue
            if q.empty():
                print(fmt.format(vary, n, name, "-", "-", f"failed (exit {p.exitcode})"), flush=True)
                continue
            t_prep, epoch, rss = q.get()
            print(fmt.format(vary, n, name, f"{t_prep:.2f}", f"{epoch:.3f}", f"{rss:.0f}"), flush=True)


def rank_targets(d=16, k=4, seed=0):
    """One source (k blobs x 60, dimension d) and 16 targets of varied shift / spread / labels."""
    g = torch.Generator().manual_seed(seed)
    means = 3.0 * torch.randn(k, d, generator=g, dtype=torch.float64)

    def draw(n_per, shift, scale):
        y = torch.arange(k).repeat_interleave(n_per)
        return means[y] + scale * torch.randn(len(y), d, generator=g, dtype=torch.float64) + shift, y

    src = draw(60, 0.0, 1.0)
    targets = []
    for shift in (0.0, 0.5, 1.5):
        for scale in (1.0, 1.8):
            targets.append(draw(40, shift, scale))
    for shift, mode in [(0.0, "swap"), (0.5, "swap"), (0.0, "shuffle"), (0.5, "shuffle"),
                        (0.0, "half"), (1.0, "half"), (0.0, "fewer"), (1.0, "fewer"),
                        (0.0, "merge"), (0.7, "merge")]:
        x, y = draw(40, shift, 1.0)
        if mode == "swap":  # classes 0 / 1 exchange labels, class 3 dropped
            y = torch.where(y == 0, 1, torch.where(y == 1, 0, y))
            x, y = x[y != 3], y[y != 3]
        elif mode == "shuffle":
            y = y[torch.randperm(len(y), generator=g)]
        elif mode == "half":  # half of the labels shuffled
            i = torch.randperm(len(y), generator=g)[: len(y) // 2]
            y = y.clone()
            y[i] = y[i[torch.randperm(len(i), generator=g)]]
        elif mode == "fewer":
            x, y = x[y < 2], y[y < 2]
        elif mode == "merge":  # classes 0 and 1 share one label
            y = torch.where(y == 1, 0, y)
        targets.append((x, y))
    return src, targets


def rank(args) -> None:
    from scipy.stats import spearmanr

    configs = [(16, 4)] if args.quick else [(16, 4), (64, 6)]
    for d, k in configs:
        src, targets = rank_targets(d, k)
        vals, secs = {}, {}
        for name in ("otdd-exact", "otdd-gaussian", "otdd-sliced"):
            al = make_aligner(name)
            al.prepare(*src)
            t0 = time.perf_counter()
            vals[name] = [float(al(*t)) for t in targets]
            secs[name] = time.perf_counter() - t0
        print(f"rank: D={d}, {k} source classes x 60, {len(targets)} targets")
        for name, v in vals.items():
            rho = spearmanr(vals["otdd-exact"], v).statistic
            print(f"  {name:<14} spearman vs exact {rho:6.3f}   eval {secs[name]:.2f}s   "
                  f"values {' '.join(f'{x:.1f}' for x in v)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 timed epoch, self-distance on 1,000 points")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs (after 1 warm-up)")
    ap.add_argument("--n-source", type=int, default=5000)
    ap.add_argument("--only", nargs="+", metavar="ALIGNER", help="default mode: only these aligners (both solvers)")
    ap.add_argument("--scaling", action="store_true", help="epoch time vs target / source size")
    ap.add_argument("--rank", action="store_true", help="Spearman rank correlation vs otdd-exact")
    ap.add_argument("--max-dense-source", type=int, default=5000,
                    help="--scaling: largest source for otdd-exact / -gaussian (Ns^2 prepare)")
    ap.add_argument("--cell-timeout", type=int, default=300, help="--scaling: seconds per cell")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.scaling or args.rank:
        if args.rank:
            rank(args)
        if args.scaling:
            scaling(args)
        return
    repeats = 1 if args.quick else args.repeats
    n_self = 1000 if args.quick else args.n_source

    rows = []
    for d, n_cls, n_per, limits in CONFIGS:
        xs, ys, targets = synthetic(args.n_source, d, n_cls, n_per)
        for name, solver in NAMES:
            if args.only and name not in args.only:
                continue
            al = make_aligner(name, solver=solver)
            label = name if solver == "converged" else f"{name}/original"
            t0 = time.perf_counter()
            al.prepare(xs, ys)
            t_prep = time.perf_counter() - t0
            run_epoch(al, targets)  # warm-up
            D.SOLVER_STATS.update(calls=0, iters=0, max_iter_hit=0)
            times = [run_epoch(al, targets) for _ in range(repeats)]
            st = dict(D.SOLVER_STATS)
            iters = st["iters"] / st["calls"] if st["calls"] else 0.0
            # self-distance d(S, S): prepare and evaluate on the same (sub)set
            al_self = make_aligner(name, solver=solver, max_source=n_self)
            al_self.prepare(xs, ys)
            xsub, ysub = D._subsample(xs, ys, n_self, 0)
            with torch.no_grad():
                self_d = float(al_self(xsub, ysub))
            epoch = statistics.median(times)
            limit = limits.get(name)
            ok = "" if limit is None else ("ok" if epoch <= limit else "SLOW")
            rows.append((f"D={d} {n_cls}x{n_per}", label, t_prep, epoch, min(times),
                         "" if limit is None else f"{limit:.0f}", ok, iters if st["calls"] else None,
                         st["max_iter_hit"], self_d))
            print(f"  done {rows[-1][0]} {label}", flush=True)

    hdr = ("target", "aligner", "prepare s", "epoch s (med)", "epoch s (min)", "limit s", "",
           "sinkhorn it/call", "max_iter hit", f"d(S,S) n={n_self}")
    print()
    print(f"source {args.n_source} x D in 10 blobs, torch threads {args.threads}, "
          f"{repeats} timed epoch(s); torch {torch.__version__}")
    fmt = "{:<15} {:<23} {:>9} {:>13} {:>13} {:>7} {:>4} {:>16} {:>12} {:>14}"
    print(fmt.format(*hdr))
    for r in rows:
        print(fmt.format(r[0], r[1], f"{r[2]:.2f}", f"{r[3]:.3f}", f"{r[4]:.3f}", r[5], r[6],
                         "-" if r[7] is None else f"{r[7]:.0f}", r[8], f"{r[9]:.3g}"))


if __name__ == "__main__":
    main()
