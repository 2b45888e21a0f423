"""Resume at real size (issue 19): a refine job on the full-size RoBERTa-base body (random weights, 85 M trained
weights, a ~1 GB checkpoint with Adam state) is stopped by SIGTERM after its first checkpoint, restarted, and
must end with the same record (history and scores) as an uninterrupted run.

  python scripts/resume_real_size.py [--task iris] [--epochs 3] [--work /tmp/orca-resume]

Prints the checkpoint's size and write time, the exit status of the stopped run (75: preempted) and whether the
two records agree. Exit status 0 when they do.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path


def _refine(args, out: Path, ckpt: Path) -> list[str]:
    return [sys.executable, "-m", "orca", "refine", "--task", args.task, "--backbone", "roberta-base", "--body",
            "random", "--method", "none", "--seed", "0", "--overrides", json.dumps({"refine": {"epochs": args.epochs}}), "--protocol", "original",
            "--out", str(out), "--data-dir", args.data_dir, "--checkpoint-dir", str(ckpt), "--checkpoint-every", "0"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="iris")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--work", default="/tmp/orca-resume")
    p.add_argument("--data-dir", default=".cache/orca/data")
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "orca", "fetch", "--task", args.task, "--data-dir", args.data_dir], check=True)
    t0 = time.time()
    subprocess.run(_refine(args, work / "straight.json", work / "ckpt-straight"), check=True)
    print(f"uninterrupted run: {time.time() - t0:.0f} s")
    ckpt_dir = work / "ckpt-stopped"
    job = subprocess.Popen(_refine(args, work / "stopped.json", ckpt_dir))
    while job.poll() is None and not list(ckpt_dir.glob("*.pt")):
        time.sleep(0.2)
    size = sum(f.stat().st_size for f in ckpt_dir.glob("*.pt")) / 2**20
    job.send_signal(signal.SIGTERM)
    code = job.wait()
    print(f"first checkpoint {size:.0f} MB; SIGTERM -> exit {code} (75 = saved and preempted)")
    subprocess.run(_refine(args, work / "stopped.json", ckpt_dir), check=True)
    a, b = (json.loads((work / f).read_text()) for f in ("straight.json", "stopped.json"))
    same = a["scores"] == b["scores"] and a["history"] == b["history"]
    print(f"history {len(a['history'])} epochs; scores {a['scores']}; resumed run identical: {same}")
    return 0 if same and code == 75 else 1


if __name__ == "__main__":
    sys.exit(main())
