"""Command line: one subcommand per stage. The Snakemake rules call these; so can you.

  orca tasks                               list the task files found
  orca methods                             list the methods (align methods, controls) and the backbones
  orca prepare  --task T                   run T's prepare: step (raw archives -> the files its loader reads)
  orca fetch    --task T                   make T's raw data available in the data folder (prepares first)
  orca sources  --backbone B --out F.npz   build B's source features (the alignment target)
  orca align    --task T --backbone B --method M --seed S --source F.npz --out-dir D [--body random]
  orca refine   --task T --backbone B --method M --seed S [--embedder D/embedder.pt] --out R.json [--body random]
  orca baseline --task T --method xgboost --seed S --out R.json
  orca report   --table NAME RUN.json ...  aggregate runs into results/NAME.csv and reports/NAME.*
  orca bundle   NAME [--configfile F]        one archive of table NAME: its files, records, settings, environment
  orca verify   BUNDLE                       check a bundle's checksums and rebuild its table from its records
  orca export mlflow [--tracking-uri URI] [NAME | RUN.json ...]   run records -> MLflow runs (optional extra)

Every stage runs one job from one resolved settings document (orca.spec.jobs): the workflow plans it and
passes ``--job DOC --settings-hash H`` (the job refuses a document that does not hash to H); by hand, the
options above (--task, --overrides, --body, --mode, --weights, ...) are resolved into the same document.
Paths, threads and the device are not settings: no number depends on them.

A task is a name found under --benchmarks (repeatable) or a path to its YAML file.
Exit status: 0 on success, 2 for bad input (the message says what to fix), 1 for anything else.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

DEFAULT_CACHE = os.environ.get("ORCA_CACHE_DIR", ".cache/orca")
DEFAULT_DATA = os.environ.get("ORCA_DATA_DIR", f"{DEFAULT_CACHE}/data")
BODY_CHOICES = {"pretrained": True, "random": False}  # --body -> the task's body.pretrained
BODY_STAGES = ("sources", "align", "refine")  # the stages that load a body (its weights are a setting)


def _job_opts(p: argparse.ArgumentParser, task: bool = True) -> None:
    """How a job's settings arrive: --job (the workflow's document) or the options it is resolved from."""
    g = p.add_argument_group("settings (one resolved document per job; orca.spec.jobs)")
    g.add_argument("--job", default=None, metavar="DOC",
                   help="the job's settings document (JSON, or @FILE), as the workflow writes it; replaces the "
                        "options below")
    g.add_argument("--settings-hash", default=None, metavar="H",
                   help="refuse to run unless the settings hash to H (what the workflow planned)")
    g.add_argument("--mode", default="real", choices=["real", "rehearsal"],
                   help="rehearsal: stand-in data and tiny random bodies (README: Rehearsal); part of the settings")
    g.add_argument("--cache-key", default="settings", choices=["settings", "settings+code"],
                   help="settings+code: the settings also name the source of the modules this stage runs")
    g.add_argument("--method-dir", action="append", default=None, metavar="DIR",
                   help="a folder of method files of your own (repeatable; the config's method_dirs)")
    g.add_argument("--backbone-dir", action="append", default=None, metavar="DIR",
                   help="a folder of backbone files of your own (repeatable; the config's backbone_dirs)")
    if task:
        g.add_argument("--task", default=None, help="task name or path to a task YAML file")
        g.add_argument("--benchmarks", action="append", default=None,
                       help="folder of task files (repeatable; default: ./benchmarks)")
        g.add_argument("--overrides", default="{}",
                       help='JSON merged into the task file, e.g. \'{"refine": {"epochs": 2}}\'')


def _data_dir_opt(p: argparse.ArgumentParser, required_help: str | None = None) -> None:
    if required_help:
        p.add_argument("--data-dir", required=True, help=required_help)
    else:
        p.add_argument("--data-dir", default=DEFAULT_DATA,
                       help="where raw and prepared data live (default: $ORCA_DATA_DIR or .cache/orca/data)")


def _seconds(text: str) -> float:
    from .training.checkpoint import parse_seconds

    try:
        return parse_seconds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _machine_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: $ORCA_DEVICE, else a GPU if present)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: $ORCA_THREADS)")


def _run_opts(p: argparse.ArgumentParser) -> None:
    """A training job's identity (when not given by --job) and its machine options."""
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--backbone", default=None)
    _machine_opts(p)
    p.add_argument("--checkpoint-dir", default=f"{DEFAULT_CACHE}/checkpoints",
                   help="where per-epoch checkpoints live; a restarted job resumes from them "
                        "(default: $ORCA_CACHE_DIR/checkpoints); 'none' disables them")
    p.add_argument("--checkpoint-every", type=_seconds, default=None, metavar="SECONDS",
                   help="save at an epoch's end only if this many seconds passed since the last save "
                        "(default 60; 0 = every epoch); a stop signal always saves")
    _protocol_opt(p)
    _body_opt(p)


def _protocol_opt(p: argparse.ArgumentParser) -> None:
    from .spec.protocols import DEFAULT_PROTOCOL, PROTOCOLS

    p.add_argument("--protocol", default=DEFAULT_PROTOCOL, choices=list(PROTOCOLS),
                   help="evaluation protocol (orca/spec/protocols.py): 'original' = the released code's (whole "
                        "training set, test-selected epoch, chunked metric), 'clean' = validation split (default: "
                        f"{DEFAULT_PROTOCOL})")


def _body_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--body", choices=sorted(BODY_CHOICES), default=None,
                   help="the body's weights: pretrained (released) or random (same architecture, drawn from "
                        "--seed); default: the task file's body.pretrained (true unless set)")
    p.add_argument("--weights", default=None, metavar="HUB_ID_OR_FOLDER",
                   help="where the pretrained body's weights are (default: the backbone's hub id); a setting")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orca", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--usage-out", metavar="JSON", help="first, before the command: write what the job used "
                        "(peak RSS, CPU and wall seconds, exit status; orca.runtime.usage) to JSON (the rules pass it)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tasks", help="list task files")
    p.add_argument("--benchmarks", action="append", default=None, help="folder of task files (repeatable)")

    p = sub.add_parser("methods", help="list the methods (align methods and controls) and the backbones")
    p.add_argument("--method-dir", action="append", default=None, metavar="DIR",
                   help="a folder of method files of your own (repeatable; the config's method_dirs)")
    p.add_argument("--backbone-dir", action="append", default=None, metavar="DIR",
                   help="a folder of backbone files of your own (repeatable; the config's backbone_dirs)")

    p = sub.add_parser("prepare", help="run a task's prepare: step (raw archives -> prepared files)")
    _job_opts(p)
    _data_dir_opt(p)
    p.add_argument("--done", default=None, help="file to write the provenance record to when done (for the workflow)")
    p.add_argument("--force", action="store_true", help="run the step even when its outputs are up to date")

    p = sub.add_parser("fetch", help="make a task's raw data available locally")
    _job_opts(p)
    _data_dir_opt(p)
    p.add_argument("--done", default=None, help="file to touch when the data are in place (for the workflow)")

    p = sub.add_parser("standin", help="rehearsal only: write a task's stand-in raw data (random values in the "
                                       "real layout, never the real data) into the rehearsal's own data folder")
    _job_opts(p)
    _data_dir_opt(p, "the rehearsal's own data folder (never the real one)")
    p.add_argument("--train", type=int, default=24, help="training samples per stand-in")
    p.add_argument("--test", type=int, default=8, help="test samples per stand-in")
    p.add_argument("--done", default=None, help="record of the written files (for the workflow)")

    p = sub.add_parser("sources", help="build a backbone's source features")
    _job_opts(p, task=False)
    p.add_argument("--backbone", default=None)
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--max-samples", type=int, default=5000)
    p.add_argument("--from-npy", nargs=2, metavar=("XS", "YS"), default=None,
                   help="use released features instead, e.g. the paper's text_xs.npy text_ys.npy")
    p.add_argument("--image-source", default="photos", choices=["cifar10", "photos"],
                   help="image bodies: 'cifar10' = the paper's 5,000 CIFAR-10 training images (fetched into "
                        "--data-dir/cifar10; offline photographs when unreachable, said in the origin), "
                        "'photos' = scikit-learn's bundled photographs (offline)")
    p.add_argument("--weights", default=None, metavar="HUB_ID_OR_FOLDER",
                   help="where the body's weights are (default: the backbone's hub id); a setting")
    _data_dir_opt(p)
    p.add_argument("--embeddings-out", default=None,
                   help="also save the body's input-embedding tensors here (what align initialises from)")
    _machine_opts(p)

    _training_parsers(sub)

    p = sub.add_parser("baseline", help="fit a classical baseline (xgboost, logistic-regression)")
    _job_opts(p)
    _data_dir_opt(p)
    p.add_argument("--method", default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", required=True)

    p = sub.add_parser("report", help="aggregate run JSONs into a CSV, LaTeX/Markdown tables and a plot")
    _job_opts(p, task=False)
    p.add_argument("--table", default=None)
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
    p.add_argument("--missing", default=None, metavar="JSON",
                   help="a partly failed table: its missing cells (orca.plan.failures, written by the workflow's "
                        "onerror handler); each is listed in the table instead of being dropped")
    p.add_argument("runs", nargs="+", help="result JSON files")

    from .export.cli import add_export_parser
    from .report.bundle_cli import add_bundle_parsers

    from .sizing.cli import add_sizing_parsers

    add_bundle_parsers(sub)
    add_export_parser(sub)
    add_sizing_parsers(sub)
    return parser


def _training_parsers(sub) -> None:
    """The align and refine subcommands (the stages that train)."""
    p = sub.add_parser("align", help="train a task's embedder towards the source features")
    _job_opts(p)
    _data_dir_opt(p)
    _run_opts(p)
    p.add_argument("--method", default=None, help="the align method (orca/align/distances.py: l2, mmd, otdd-exact, ...)")
    p.add_argument("--source", required=True, help="source features .npz (orca sources)")
    p.add_argument("--embeddings", default=None,
                   help="the backbone's saved input embeddings (orca sources --embeddings-out); "
                        "default: load the body")
    p.add_argument("--out-dir", required=True, help="folder for embedder.pt and align.json")

    p = sub.add_parser("refine", help="fine-tune embedder + body + head and score on the test split")
    _job_opts(p)
    _data_dir_opt(p)
    _run_opts(p)
    p.add_argument("--method", default=None,
                   help="method name recorded in the result ('none' = naive fine-tuning; a control refines "
                        "without alignment: frozen-body, lora, random-body, attention1-body, no-body, "
                        "orca/stages/controls.py)")
    p.add_argument("--embedder", default=None, help="aligned embedder.pt (omit for 'none')")
    p.add_argument("--out", required=True, help="result JSON")


def parse_overrides(text: str) -> dict:
    """``--overrides``' JSON object (a partial task file); ValueError naming the flag and the fix otherwise."""
    example = """give a JSON object, e.g. '{"refine": {"epochs": 2}}'"""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--overrides: not JSON ({err}); {example}") from None
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        raise ValueError(f"--overrides: got {kind} ({text.strip()[:40]}), not a JSON object; {example}")
    return value


def _task(args):
    from .spec.tasks import TaskError, resolve_task

    if not args.task:
        raise TaskError(f"orca {args.command}: give --task (a task name or file) or --job (a settings document)")
    overrides = parse_overrides(args.overrides)
    if getattr(args, "body", None):  # --body wins over the task file and --overrides
        overrides.setdefault("body", {})["pretrained"] = BODY_CHOICES[args.body]
    return resolve_task(args.task, args.benchmarks or ["benchmarks"], overrides)


def _identity(args, stage: str, task) -> dict:
    """The job's identity from the command line (the options a --job document would give)."""
    from .spec.jobs import IDENTITY

    values = {"task": task.name if task is not None else None, "backbone": getattr(args, "backbone", None),
              "method": getattr(args, "method", None), "protocol": getattr(args, "protocol", None),
              "seed": getattr(args, "seed", None), "table": getattr(args, "table", None)}
    missing = [k for k in IDENTITY[stage] if values[k] is None]
    if missing:
        raise ValueError(f"orca {stage}: give --{' --'.join(missing)} (or --job, the workflow's settings document)")
    return {k: values[k] for k in IDENTITY[stage]}


def job_of(args, stage: str, extra: dict | None = None):
    """The job's settings: the --job document (checked against --settings-hash), or the same document resolved
    from the command line's options (orca.spec.jobs.resolve_job, as the planner resolves it)."""
    from .spec.jobs import JobSettings, job_extras, resolve_job

    if args.job:
        job = JobSettings.loads(args.job, stage, args.settings_hash)
        job.register_files()  # a user's backbone or method the document names
        return job
    from .plan.grid import register_config_files

    register_config_files({"method_dirs": args.method_dir, "backbone_dirs": args.backbone_dir})
    task = _task(args) if stage not in ("sources", "report") else None
    weights = getattr(args, "weights", None) if stage in BODY_STAGES else None
    identity = _identity(args, stage, task)
    extra = {**(extra or {}), **job_extras(stage, weights, args.cache_key == "settings+code",
                                           identity.get("backbone"))}
    if stage in ("align", "refine"):
        from .align.catalog import epoch_variant
        from .methods import method_setting

        method = method_setting(stage, epoch_variant(identity["method"])[0], task.name)
        if method:
            extra["method"] = method
    job = resolve_job(stage, identity, args.mode, task, extra)
    if args.settings_hash is not None and args.settings_hash != job.settings_hash:
        raise ValueError(f"--settings-hash {args.settings_hash}: these options hash to {job.settings_hash}")
    return job


def _claim_gpu() -> None:
    """With ORCA_GPUS=0,1,... take a free GPU for this job (held until exit) before CUDA starts (orca/runtime/gpus.py)."""
    from .runtime.gpus import visible_devices_for_job

    gpu = visible_devices_for_job()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def _checkpoints(args):
    return None if args.checkpoint_dir.lower() == "none" else Path(args.checkpoint_dir)


def main(argv: list[str] | None = None) -> int:
    """Run one `orca` command. Only when the workflow asked for a warm worker (it sets $ORCA_WORKER for the jobs
    of a local run) is the job handed to it (orca/runtime/warm_client.py): forking from a process with torch &
    co. imported saves ~5 s per job (a default-table run: 723 s with it, 1,352 s without; README)."""
    argv = sys.argv[1:] if argv is None else argv
    from .runtime.usage import split_usage_arg

    usage_out, argv = split_usage_arg(argv)  # `orca --usage-out PATH CMD ...` (the rules pass it)
    if os.environ.get("ORCA_WORKER"):
        from .runtime.warm_client import forward_to_worker

        forwarded = forward_to_worker(argv)
        if forwarded is not None:
            code, used = forwarded
            if usage_out and used:
                _write_usage(usage_out, used, argv, code, "warm worker (the job's forked process)")
            return code
    if not usage_out:
        return _run(argv)
    started = time.time()
    code = 1
    try:
        code = _run(argv)
    except SystemExit as stop:  # argparse: a usage error (2) or --help (0)
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        raise
    finally:
        from .runtime.usage import self_usage

        _write_usage(usage_out, self_usage(started), argv, code, "in-process")
    return code


def _write_usage(path: str, used: dict, argv: list[str], code: int, where: str) -> None:
    """The job's measured use (orca.runtime.usage) to ``path``; a failure to write it never fails the job."""
    from .runtime.usage import write_usage

    try:
        write_usage(path, used, argv, code, where)
    except OSError as err:
        print(f"orca: could not write --usage-out {path}: {err}", file=sys.stderr)


def _run(argv: list[str]) -> int:
    """Parse and run one command in this process."""
    args = build_parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):  # progress lines reach a log file (or a tee) as they are written
        sys.stdout.reconfigure(line_buffering=True)
    try:
        if args.command in BODY_STAGES:
            _claim_gpu()
        return _dispatch(args)
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        return 0
    except (ValueError, OSError, RuntimeError, ArithmeticError) as err:
        # ValueError: TaskError, JobSettingsError, DataError, JSON and the registries' unknown-name errors;
        # OSError: missing or unwritable files; RuntimeError: data that cannot be fetched; ArithmeticError: NaN loss.
        print(f"orca {args.command}: error: {err}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    from .runtime.process import set_threads

    if args.command in BODY_STAGES:
        set_threads(args.threads)
    return COMMANDS[args.command](args)


def _cmd_tasks(args) -> int:
    from .spec.tasks import find_task_files, load_task

    for name, path in find_task_files(args.benchmarks or ["benchmarks"]).items():
        t = load_task(path)
        print(f"{name:24s} {t.suite:12s} {t.metric:22s} {t.title}  [{path}]")
    return 0


def _cmd_methods(args) -> int:
    from .methods import all_methods
    from .model.specs import BACKBONES
    from .plan.grid import register_config_files

    register_config_files({"method_dirs": args.method_dir, "backbone_dirs": args.backbone_dir})
    for kind, title in (("align", "align methods (a table's aligners:)"), ("control", "controls (controls:)")):
        print(title)
        for name, m in sorted(all_methods().items(), key=lambda item: (item[1].order, item[0])):
            if m.kind == kind:
                settings = f"  settings: {m.settings}" if m.settings else ""
                print(f"  {name:18s} {m.description}{settings}  [{m.file}]")
    print("backbones (backbones:)")
    for name, b in sorted(BACKBONES.items()):
        print(f"  {name:18s} {b.family:5s} width {b.width:<5d} {b.description}  [{b.file}]")
    return 0


def _check_data_folder(job, data_dir: Path) -> None:
    """A rehearsal job works only in a stand-in data folder, a real job never in one (orca.rehearsal)."""
    from .data.download.fetching import STANDIN_MARKER, standin_folder

    inside = standin_folder(data_dir) is not None
    if job.rehearsal and not inside and job.stage != "standin":
        raise ValueError(f"--data-dir {data_dir}: a rehearsal job reads stand-in data only, and this folder has no "
                         f"{STANDIN_MARKER} marker; write the stand-ins first (orca standin) or use the rehearsal's "
                         "data_dir")
    if not job.rehearsal and inside:
        raise ValueError(f"--data-dir {data_dir}: holds a rehearsal's stand-in data ({STANDIN_MARKER}), not real "
                         "data; point a real run at its own data folder")


def _cmd_prepare(args) -> int:
    from .data.preparation.prepare import prepare_task

    job = job_of(args, "prepare")
    _check_data_folder(job, Path(args.data_dir))
    prepare_task(job.task, Path(args.data_dir), Path(args.done) if args.done else None, args.force)
    return 0


def _cmd_standin(args) -> int:
    from .rehearsal.standins import Size, write_standins

    job = job_of(args, "standin")
    if not job.rehearsal:
        raise ValueError("orca standin writes a rehearsal's stand-in data: run it with --mode rehearsal (the "
                         "rehearsal config does)")
    task = job.task
    written = write_standins(task, Path(args.data_dir), Size(args.train, args.test),
                             Path(args.done) if args.done else None)
    print(f"{task.name}: stand-in data (REHEARSAL, not the real data) -> " + ", ".join(str(w) for w in written))
    return 0


def _cmd_fetch(args) -> int:
    from .data import fetch
    from .data.preparation.prepare import prepare_task
    from .runtime.process import atomic_write_text

    job = job_of(args, "fetch")
    _check_data_folder(job, Path(args.data_dir))
    task = job.task
    if task.prepare:  # up to date: returns at once
        prepare_task(task, Path(args.data_dir))
    fetch(task.data.loader, task.data.args, Path(args.data_dir))
    if args.done:
        atomic_write_text(args.done, f"{task.name}\n")
    return 0


def _cmd_sources(args) -> int:
    from .model.backbones import load_body
    from .stages.sources import build_source_features, from_arrays, save_source

    origin = {"max_samples": args.max_samples, "from_npy": args.from_npy, "image_source": args.image_source}
    job = job_of(args, "sources", {"sources": origin})
    backbone, src = job.job["backbone"], job.get("sources")
    body = load_body(backbone, rehearsal=job.rehearsal, weights=job.get("weights"))
    feats = (from_arrays(*src["from_npy"], max_samples=src["max_samples"]) if src["from_npy"]
             else build_source_features(backbone, max_samples=src["max_samples"], body=body,
                                        image_source=src["image_source"], data_dir=args.data_dir))
    save_source(feats, args.out)
    if args.embeddings_out:
        body.embedding_init().save(args.embeddings_out)
    print(f"source features {feats['xs'].shape} -> {args.out} ({feats['origin']})")
    return 0


def _training_io(args, out: str, **inputs):
    from .stages.common import JobIO

    return JobIO(Path(out), Path(args.data_dir), args.device, _checkpoints(args), args.checkpoint_every,
                 **{k: Path(v) if v else None for k, v in inputs.items()})


def _cmd_align(args) -> int:
    from .stages.align import run_align

    job = job_of(args, "align")
    _check_data_folder(job, Path(args.data_dir))
    run_align(job, _training_io(args, args.out_dir, source=args.source, embeddings=args.embeddings))
    return 0


def _cmd_refine(args) -> int:
    from .spec.protocols import get_protocol
    from .stages.refine import run_refine

    job = job_of(args, "refine")
    _check_data_folder(job, Path(args.data_dir))
    rec = run_refine(job, _training_io(args, args.out, embedder=args.embedder))
    chosen = get_protocol(job.job["protocol"])
    print(f"{rec['task']} {rec['method']} seed {rec['seed']} ({chosen.name}): {rec['metric']} "
          f"{rec['scores'][chosen.selected_score]:.4g} (best {chosen.select_on} epoch {rec['scores']['best_epoch']})")
    return 0


def _cmd_baseline(args) -> int:
    from .stages.baselines import run_baseline
    from .stages.common import JobIO

    job = job_of(args, "baseline")
    _check_data_folder(job, Path(args.data_dir))
    rec = run_baseline(job, JobIO(Path(args.out), Path(args.data_dir)))
    print(f"{rec['task']} {rec['method']} seed {rec['seed']}: {rec['metric']} {rec['scores']['test_at_best_val']:.4g}")
    return 0


def _cmd_report(args) -> int:
    from .report import build_report

    options = {"score": args.score, "summary": json.loads(args.summary), "reference": args.reference,
               "published": args.published}
    job = job_of(args, "report", {"report": options})
    opts = job.get("report")
    missing = None
    if args.missing:
        from .report.missing import read_missing

        missing = read_missing(args.missing)
    written = build_report([Path(r) for r in args.runs], job.job["table"], Path(args.results_dir),
                           Path(args.reports_dir), Path(opts["published"]) if opts["published"] else None,
                           score=opts["score"], summary=opts["summary"], reference=opts["reference"],
                           rehearsal=job.rehearsal, missing=missing, questions=opts.get("questions"),
                           published_tables=opts.get("published_tables"))
    for path in (written.values() if isinstance(written, dict) else written):
        print(f"wrote {path}")
    return 0


def _cmd_bundle(args) -> int:
    from .report.bundle_cli import run_bundle

    return run_bundle(args)


def _cmd_verify(args) -> int:
    from .report.bundle_cli import run_verify

    return run_verify(args)


def _cmd_export(args) -> int:
    from .export.cli import run_export

    return run_export(args)


def _cmd_size(args) -> int:
    from .sizing.cli import run_size

    return run_size(args)


def _cmd_size_unit(args) -> int:
    from .sizing.cli import run_size_unit

    return run_size_unit(args)


def _cmd_cost(args) -> int:
    from .sizing.cli import run_cost

    return run_cost(args)


COMMANDS = {"tasks": _cmd_tasks, "methods": _cmd_methods, "prepare": _cmd_prepare, "standin": _cmd_standin, "fetch": _cmd_fetch,
            "sources": _cmd_sources,
            "align": _cmd_align, "refine": _cmd_refine, "baseline": _cmd_baseline, "report": _cmd_report,
            "bundle": _cmd_bundle, "verify": _cmd_verify, "export": _cmd_export,
            "size": _cmd_size, "size-unit": _cmd_size_unit, "cost": _cmd_cost}


if __name__ == "__main__":
    sys.exit(main())
