"""Real-size figures of the paper's two bodies (issue 19): RoBERTa-base on DeepSEA (16 x 512 tokens) and Swin-base on
CIFAR-100 (32 images at 224 px), each in fp32 and bf16 and with eager and sdpa attention: seconds per optimizer
step, peak memory, FLOPs per step; then the loaders' peak RSS at the real array sizes (scripts/bench_loaders.py's
CSV). Everything comes from `orca size` records written here; nothing is copied in.

  python scripts/bench_sizing.py [--device cuda] [--micro-batches 1 4] [--out results/sizing/bench]

On a CPU the real batches are measured at micro-batches and scaled (docs/sizing.md); on a GPU pass
--micro-batches 512 to measure the real batches themselves.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROWS = {"deepsea": "roberta-base", "cifar100": "swin-base"}
#: The bare RoBERTa-base body (no ORCA embedder or head) at 512 tokens: what memory per sample each attention
#: kernel and dropout costs, the difference between the bare body and a DeepSEA job (docs/sizing.md).
BARE = [("eager", 0.1), ("eager", 0.0), ("sdpa", 0.1), ("sdpa", 0.0)]


def bare_child(attention: str, dropout: float, batches: list[int]) -> dict:
    """In this (fresh) process: RoBERTa-base with random weights fed (m, 512, 768) input embeddings, Adam, one
    warm-up and one timed step per micro-batch ``m`` (ascending); peak RSS per window."""
    import time

    import torch
    from transformers import AutoModel

    from orca.model.backbones import body_config
    from orca.runtime.memory import peaks, reset_peaks

    config = body_config("roberta-base", pretrained=False, dropout=dropout)
    model = AutoModel.from_config(config, attn_implementation=attention)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    out = {"attention": attention, "dropout": dropout, "windows": []}
    for m in batches:
        x = torch.randn(m, 512, 768)
        reset_peaks()
        for _ in ("warm-up", "timed"):
            t0 = time.perf_counter()
            model(inputs_embeds=x).last_hidden_state.float().pow(2).mean().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            secs = time.perf_counter() - t0
        out["windows"].append({"m": m, "step_s": round(secs, 2), "peak_rss_mb": peaks()["rss_mb"]})
    return out


def bare_section(batches: list[int]) -> list[str]:
    lines = []
    for attention, dropout in BARE:
        code = ("import json, sys; sys.path.insert(0, 'scripts'); from bench_sizing import bare_child; "
                f"print(json.dumps(bare_child({attention!r}, {dropout}, {batches})))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode != 0:
            lines.append(f"bare roberta-base {attention} dropout {dropout}: failed: {done.stderr[-300:]}")
            continue
        res = json.loads(done.stdout.strip().splitlines()[-1])
        (a, b) = res["windows"][0], res["windows"][-1]
        per_sample = (b["peak_rss_mb"] - a["peak_rss_mb"]) / (b["m"] - a["m"])
        at16 = b["peak_rss_mb"] + per_sample * (16 - b["m"])
        lines.append(f"bare roberta-base x 512 tokens, {attention:5s} attention, dropout {dropout}: "
                     + ", ".join(f"m={w['m']} {w['step_s']} s {w['peak_rss_mb'] / 1024:.2f} GB" for w in res["windows"])
                     + f"; {per_sample:.0f} MB per sample -> {at16 / 1024:.1f} GB at batch 16")
    return lines


def _config(path: Path, attention: str, args) -> Path:
    doc = {"cache_dir": args.cache, "protocols": ["original"], "targets": [f"b_{t}" for t in ROWS],
           "overrides": {"body": {"attention": attention}},
           "tables": {f"b_{t}": {"title": t, "tasks": [t], "backbones": [bb], "aligners": ["none"], "seeds": [0]}
                      for t, bb in ROWS.items()},
           "sizing": {"warmup_steps": 1, "steps": args.steps, "micro_batches": args.micro_batches,
                      "precisions": ["fp32", "bf16"], "direct_below_mb": 0}}
    path.write_text(yaml.safe_dump(doc))
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None)
    p.add_argument("--micro-batches", type=int, nargs="+", default=[1, 4])
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--out", default="results/sizing/bench")
    p.add_argument("--cache", default=".cache/orca")
    p.add_argument("--attention", nargs="+", default=["eager", "sdpa"])
    p.add_argument("--loaders-csv", default="results/sizing/loaders.csv")
    p.add_argument("--bare-batches", type=int, nargs="+", default=[1, 4],
                   help="micro-batches of the bare-body comparison (none: --bare-batches 0 skips it)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for attention in args.attention:
        folder = out / attention
        cfg = _config(out / f"bench-{attention}.yaml", attention, args)
        cmd = [sys.executable, "-m", "orca", "size", "--configfile", str(cfg), "--sizing-dir", str(folder)]
        if args.device:
            cmd += ["--device", args.device]
        if subprocess.call(cmd) != 0:
            lines.append(f"{attention}: orca size failed (see above)")
            continue
        for rec_path in sorted(folder.glob("*.json")):
            rec = json.loads(rec_path.read_text())
            full = rec["refine"]["full"]
            for precision, win in full["precisions"].items():
                at = win["at_batch"]
                how = "measured" if at["scaled_from"] is None else f"scaled from micro-batches {at['scaled_from']}"
                gpu = f", peak GPU {at['peak_gpu_mb'] / 1024:.1f} GB" if at.get("peak_gpu_mb") else ""
                lines.append(f"{rec['backbone']:12s} {rec['task']:9s} {attention:5s} {precision:4s} batch "
                             f"{full['batch_size']:2d}: {at['step_s']:8.2f} s/step, peak RSS "
                             f"{at['peak_rss_mb'] / 1024:5.1f} GB{gpu}, {full['flops_per_step'] / 1e12:.2f} "
                             f"TFLOP/step ({how}; {rec['provenance']['device']})")
    print("\n# Bodies at paper shapes")
    print("\n".join(lines))
    if args.bare_batches != [0]:
        print("\n# The bare RoBERTa-base body: memory per sample by attention kernel and dropout")
        print("\n".join(bare_section(args.bare_batches)))
    loaders = Path(args.loaders_csv)
    print("\n# Loaders at real array sizes (scripts/bench_loaders.py)")
    if loaders.is_file():
        for row in csv.DictReader(loaders.open()):
            print(", ".join(f"{k} {v}" for k, v in row.items()))
    else:
        print(f"no {loaders}: run python scripts/bench_loaders.py first")
    return 0


if __name__ == "__main__":
    sys.exit(main())
