"""Command line: one subcommand per stage. The Snakemake rules call these; so can you.

  orca tasks                               list the task files found
  orca prepare  --task T                   run T's prepare: step (raw archives -> the files its loader reads)
  orca fetch    --task T                   make T's raw data available in the data folder (prepares first)
  orca sources  --backbone B --out F.npz   build B's source features (the alignment target)
  orca align    --task T --backbone B --aligner A --seed S --source F.npz --out-dir D [--body random]
  orca refine   --task T --backbone B --aligner A --seed S [--embedder D/embedder.pt] --out R.json [--body random]
  orca baseline --task T --method xgboost --seed S --out R.json
  orca report   --table NAME RUN.json ...  aggregate runs into results/NAME.csv and reports/NAME.*

The warm worker (`python -m orca.runtime.warm --socket PATH`, orca/runtime/warm.py) keeps torch & co. imported; jobs run with
ORCA_WORKER=PATH fork from it (orca/runtime/warm_client.py hands them over).

A task is a name found under --benchmarks (repeatable) or a path to its YAML file.
Exit status: 0 on success, 2 for bad input (the message says what to fix), 1 for anything else.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_CACHE = os.environ.get("ORCA_CACHE_DIR", ".cache/orca")
BODY_CHOICES = {"pretrained": True, "random": False}  # --body -> the task's body.pretrained


def _common(p: argparse.ArgumentParser, task: bool = True, data_dir_help: str | None = None) -> None:
    """--benchmarks, --data-dir, --overrides (and --task); ``data_dir_help`` makes --data-dir required."""
    p.add_argument("--benchmarks", action="append", default=None,
                   help="folder of task files (repeatable; default: $ORCA_BENCHMARKS or ./benchmarks)")
    if data_dir_help:
        p.add_argument("--data-dir", required=True, help=data_dir_help)
    else:
        p.add_argument("--data-dir", default=os.environ.get("ORCA_DATA_DIR", f"{DEFAULT_CACHE}/data"),
                       help="where raw and prepared data live (default: $ORCA_DATA_DIR or .cache/orca/data)")
    p.add_argument("--overrides", default="{}",
                   help='JSON merged into every task file, e.g. \'{"refine": {"epochs": 2}}\'')
    if task:
        p.add_argument("--task", required=True, help="task name or path to a task YAML file")


def _seconds(text: str) -> float:
    from .training.checkpoint import parse_seconds

    try:
        return parse_seconds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _run_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: a GPU if present)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: $ORCA_THREADS)")
    p.add_argument("--checkpoint-dir", default=f"{DEFAULT_CACHE}/checkpoints",
                   help="where per-epoch checkpoints live; a restarted job resumes from them "
                        "(default: $ORCA_CACHE_DIR/checkpoints); 'none' disables them")
    p.add_argument("--checkpoint-every", type=_seconds, default=None, metavar="SECONDS",
                   help="save at an epoch's end only if this many seconds passed since the last save "
                        "(default: $ORCA_CHECKPOINT_EVERY_S or 60; 0 = every epoch); a stop signal always saves")


def _protocol_opt(p: argparse.ArgumentParser) -> None:
    from .spec.protocols import DEFAULT_PROTOCOL, PROTOCOLS

    p.add_argument("--protocol", default=DEFAULT_PROTOCOL, choices=list(PROTOCOLS),
                   help="evaluation protocol (orca/spec/protocols.py): 'original' = the released code's (whole training "
                        "set, test-selected epoch, chunked metric), 'clean' = validation split (default: "
                        f"{DEFAULT_PROTOCOL})")


def _body_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--body", choices=sorted(BODY_CHOICES), default=None,
                   help="the body's weights: pretrained (released) or random (same architecture, drawn from "
                        "--seed); default: the task file's body.pretrained (true unless set)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orca", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tasks", help="list task files")
    _common(p, task=False)

    p = sub.add_parser("prepare", help="run a task's prepare: step (raw archives -> prepared files)")
    _common(p)
    p.add_argument("--done", default=None, help="file to write the provenance record to when done (for the workflow)")
    p.add_argument("--force", action="store_true", help="run the step even when its outputs are up to date")

    p = sub.add_parser("fetch", help="make a task's raw data available locally")
    _common(p)
    p.add_argument("--done", default=None, help="file to touch when the data are in place (for the workflow)")

    p = sub.add_parser("standin", help="rehearsal only: write a task's stand-in raw data (random values in the "
                                       "real layout, never the real data) into the rehearsal's own data folder")
    _common(p, data_dir_help="the rehearsal's own data folder (never the real one)")
    p.add_argument("--train", type=int, default=24, help="training samples per stand-in")
    p.add_argument("--test", type=int, default=8, help="test samples per stand-in")
    p.add_argument("--done", default=None, help="record of the written files (for the workflow)")

    p = sub.add_parser("sources", help="build a backbone's source features")
    p.add_argument("--backbone", required=True)
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--max-samples", type=int, default=5000)
    p.add_argument("--from-npy", nargs=2, metavar=("XS", "YS"), default=None,
                   help="use released features instead, e.g. the paper's text_xs.npy text_ys.npy")
    p.add_argument("--image-source", default="photos", choices=["cifar10", "photos"],
                   help="image bodies: 'cifar10' = the paper's 5,000 CIFAR-10 training images (fetched into "
                        "--data-dir/cifar10; offline photographs when unreachable, said in the origin), "
                        "'photos' = scikit-learn's bundled photographs (offline)")
    p.add_argument("--data-dir", default=os.environ.get("ORCA_DATA_DIR", f"{DEFAULT_CACHE}/data"),
                   help="where the CIFAR-10 archive is kept (image-source cifar10)")
    p.add_argument("--embeddings-out", default=None,
                   help="also save the body's input-embedding tensors here (what align initialises from)")
    p.add_argument("--threads", type=int, default=None)

    _training_parsers(sub)

    p = sub.add_parser("baseline", help="fit a classical baseline (xgboost, logistic-regression)")
    _common(p)
    p.add_argument("--method", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("report", help="aggregate run JSONs into a CSV, LaTeX/Markdown tables and a plot")
    p.add_argument("--table", required=True)
    p.add_argument("--results-dir", default="results")
    p.add_argument("--reports-dir", default="reports")
    p.add_argument("--published", default=None, help="published.csv to put paper numbers beside ours")
    p.add_argument("--score", default="selected", choices=["selected", "test_at_best_val", "test_last_epoch",
                                                           "test_best_epoch_original"],
                   help="'selected' = each run's protocol's own reported score (clean: test_at_best_val, "
                        "original: test_best_epoch_original)")
    p.add_argument("--reference", default="none",
                   help="method every other one is paired with, by seed (default: none = naive fine-tuning)")
    p.add_argument("--summary", default="null",
                   help='JSON: average improvement over a method per task group, e.g. \'{"improvement_over": '
                        '"xgboost", "groups": {"all": {"tasks": ["iris", "wine"]}}}\' (a table\'s config `summary`)')
    p.add_argument("runs", nargs="+", help="result JSON files")

    return parser


def _training_parsers(sub) -> None:
    """The align and refine subcommands (the stages that train)."""
    p = sub.add_parser("align", help="train a task's embedder towards the source features")
    _common(p)
    _run_opts(p)
    p.add_argument("--backbone", required=True)
    p.add_argument("--aligner", required=True)
    p.add_argument("--source", required=True, help="source features .npz (orca sources)")
    p.add_argument("--embeddings", default=None,
                   help="the backbone's saved input embeddings (orca sources --embeddings-out); "
                        "default: load the body")
    p.add_argument("--out-dir", required=True, help="folder for embedder.pt and align.json")
    _protocol_opt(p)
    _body_opt(p)

    p = sub.add_parser("refine", help="fine-tune embedder + body + head and score on the test split")
    _common(p)
    _run_opts(p)
    p.add_argument("--backbone", required=True)
    p.add_argument("--aligner", required=True,
                   help="method name recorded in the result ('none' = naive fine-tuning; a control such as "
                        "'frozen-body' or 'random-body' refines without alignment, its body frozen or random)")
    p.add_argument("--embedder", default=None, help="aligned embedder.pt (omit for 'none')")
    p.add_argument("--out", required=True, help="result JSON")
    _protocol_opt(p)
    _body_opt(p)


def _task(args):
    from .spec.tasks import resolve_task

    dirs = args.benchmarks or os.environ.get("ORCA_BENCHMARKS", "benchmarks").split(os.pathsep)
    overrides = json.loads(args.overrides)
    if getattr(args, "body", None):  # --body wins over the task file and --overrides
        overrides.setdefault("body", {})["pretrained"] = BODY_CHOICES[args.body]
    return resolve_task(args.task, dirs, overrides)


def _claim_gpu() -> None:
    """With ORCA_GPUS=0,1,... take a free GPU for this job (held until exit) before CUDA starts (orca/runtime/gpus.py)."""
    from .runtime.gpus import visible_devices_for_job

    gpu = visible_devices_for_job()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def _checkpoints(args):
    return None if args.checkpoint_dir.lower() == "none" else args.checkpoint_dir


def main(argv: list[str] | None = None) -> int:
    from .runtime.warm_client import forward_to_worker

    argv = sys.argv[1:] if argv is None else argv
    forwarded = forward_to_worker(argv)
    if forwarded is not None:
        return forwarded
    args = build_parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):  # progress lines reach a log file (or a tee) as they are written
        sys.stdout.reconfigure(line_buffering=True)
    try:
        if args.command in ("sources", "align", "refine"):
            _claim_gpu()
        return _dispatch(args)
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        return 0
    except (ValueError, OSError, RuntimeError, ArithmeticError) as err:
        # ValueError: TaskError, DataError, JSON and the registries' unknown-name errors; OSError: missing or
        # unwritable files; RuntimeError: data that cannot be fetched; ArithmeticError: a NaN loss.
        print(f"orca {args.command}: error: {err}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    from .runtime.process import set_threads

    if args.command in ("sources", "align", "refine"):
        set_threads(args.threads)
    return COMMANDS[args.command](args)


def _cmd_tasks(args) -> int:
    from .spec.tasks import find_task_files, load_task

    dirs = args.benchmarks or os.environ.get("ORCA_BENCHMARKS", "benchmarks").split(os.pathsep)
    for name, path in find_task_files(dirs).items():
        t = load_task(path)
        print(f"{name:24s} {t.suite:12s} {t.metric:22s} {t.title}  [{path}]")
    return 0


def _cmd_prepare(args) -> int:
    from .data.preparation.prepare import prepare_task

    prepare_task(_task(args), Path(args.data_dir), Path(args.done) if args.done else None, args.force)
    return 0


def _cmd_standin(args) -> int:
    from .rehearsal.standins import Size, write_standins

    task = _task(args)
    written = write_standins(task, Path(args.data_dir), Size(args.train, args.test),
                             Path(args.done) if args.done else None)
    print(f"{task.name}: stand-in data (REHEARSAL, not the real data) -> " + ", ".join(str(w) for w in written))
    return 0


def _cmd_fetch(args) -> int:
    from .data import fetch
    from .data.preparation.prepare import prepare_task
    from .runtime.process import atomic_write_text

    task = _task(args)
    if task.prepare:  # up to date: returns at once
        prepare_task(task, Path(args.data_dir))
    fetch(task.data.loader, task.data.args, Path(args.data_dir))
    if args.done:
        atomic_write_text(args.done, f"{task.name}\n")
    return 0


def _cmd_sources(args) -> int:
    from .model.backbones import load_body
    from .stages.sources import build_source_features, from_arrays, save_source

    body = load_body(args.backbone)
    feats = (from_arrays(*args.from_npy, max_samples=args.max_samples) if args.from_npy
             else build_source_features(args.backbone, max_samples=args.max_samples, body=body,
                                        image_source=args.image_source, data_dir=args.data_dir))
    save_source(feats, args.out)
    if args.embeddings_out:
        body.embedding_init().save(args.embeddings_out)
    print(f"source features {feats['xs'].shape} -> {args.out} ({feats['origin']})")
    return 0


def _cmd_align(args) -> int:
    from .stages.align import run_align

    run_align(_task(args), args.backbone, args.aligner, args.seed, args.source, args.out_dir, args.data_dir,
              device=args.device, checkpoint_dir=_checkpoints(args), embeddings=args.embeddings,
              protocol=args.protocol, checkpoint_every_s=args.checkpoint_every)
    return 0


def _cmd_refine(args) -> int:
    from .spec.protocols import get_protocol
    from .stages.controls import body_mode_of
    from .stages.refine import run_refine

    rec = run_refine(_task(args), args.backbone, args.aligner, args.seed, args.out, args.data_dir,
                     embedder_path=args.embedder, device=args.device, checkpoint_dir=_checkpoints(args),
                     body_mode=body_mode_of(args.aligner), protocol=args.protocol,
                     checkpoint_every_s=args.checkpoint_every)
    chosen = get_protocol(args.protocol)
    print(f"{rec['task']} {rec['method']} seed {rec['seed']} ({chosen.name}): {rec['metric']} "
          f"{rec['scores'][chosen.selected_score]:.4g} (best {chosen.select_on} epoch {rec['scores']['best_epoch']})")
    return 0


def _cmd_baseline(args) -> int:
    from .stages.baselines import run_baseline

    rec = run_baseline(_task(args), args.method, args.seed, args.out, args.data_dir)
    print(f"{rec['task']} {rec['method']} seed {rec['seed']}: {rec['metric']} {rec['scores']['test_at_best_val']:.4g}")
    return 0


def _cmd_report(args) -> int:
    from .report import build_report

    written = build_report([Path(r) for r in args.runs], args.table, Path(args.results_dir),
                           Path(args.reports_dir), Path(args.published) if args.published else None,
                           score=args.score, summary=json.loads(args.summary), reference=args.reference)
    for path in (written.values() if isinstance(written, dict) else written):
        print(f"wrote {path}")
    return 0


COMMANDS = {"tasks": _cmd_tasks, "prepare": _cmd_prepare, "standin": _cmd_standin, "fetch": _cmd_fetch,
            "sources": _cmd_sources,
            "align": _cmd_align, "refine": _cmd_refine, "baseline": _cmd_baseline, "report": _cmd_report}


if __name__ == "__main__":
    sys.exit(main())
