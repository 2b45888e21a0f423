#!/usr/bin/env python
"""Peak memory of the large tasks' loaders at the real array size: in memory (eager) vs out of core (lazy).

    python scripts/bench_loaders.py [--scale 1.0] [--only deepsea,fsd50k] [--work DIR] [--keep]
                                    [--out results/sizing/loaders.csv] [--no-eager]

For each dataset below a file of the real array size is written in the layout its task file reads
(zeros: npz / HDF5 members written in blocks, pickles and tarballs as the real ones; the PDEBench files as
sparse HDF5 files, contiguous datasets allocated but never written, so they take no disk). Then, for each
mode (eager: ``data.args.lazy_inputs: false``, what the loaders did before out-of-core reading;
lazy: ``true``) and each pass (``first``: empty prepared cache, so the loader runs and writes it and any
uncompressed copy; ``cached``: what later stages read), a fresh subprocess does what a stage does with
its data: ``prepare_split`` (loader, prepared cache, data checks, validation carve), ``checksum()`` (the
records' data_sha256), 5 training batches of the task's refine.batch_size through
``orca.stages.common.batch_rows`` and one evaluation batch of refine.eval_batch_size test rows, and reports
its peak resident set (``ru_maxrss``; it includes ~0.4 GB of Python + torch imports, not any model).

An eager subprocess whose resident set passes ``--ram-limit-mb`` (default: 90% of the memory available at
start) is stopped and reported as ``>limit``; ``--no-eager`` skips eager runs (then the table gives the
inputs' float32 size instead). A dataset whose written bytes do not fit on the work folder's disk is
skipped with the reason printed. ``--scale`` shrinks every split's sample count (quick runs).

Printed: dataset, stored array shape, array GB (the inputs as float32, what eager loading holds at least
once), eager and lazy peak MB (the larger of the two passes), the task's resources.mem_mb, whether the
lazy peak fits it, the eager peak as a share of mem_mb and the task file's own lazy_inputs. The rule the
task files follow: lazy_inputs where the eager peak passes a quarter of mem_mb (the rest of the job's
memory is for torch, the model and its copies, the evaluation outputs). The CSV (``--out``) has every
pass's figure and the notes.
"""
from __future__ import annotations

import argparse
import csv
import json
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BLOCK = 16 << 20  # bytes per write when filling files with zeros
TRAIN_BATCHES = 5

# ----------------------------------------------------------------------------- real sizes (samples per split)
# DeepSEA: NAS-Bench-360's deepsea_filtered.npz, x (N, 1000, 4) one-hot, 36 labels; 71,753 / 2,490 / 149,400
#   (the NB360 / ORCA loaders' shapes). The members' dtype is not recorded here: float32 is assumed (an upper
#   bound for 4-byte types; uint8 would make the eager figures smaller), stored members (np.savez); the
#   deflated variant (np.savez_compressed) exercises the decompressed copy.
DEEPSEA = {"train": 71_753, "val": 2_490, "test": 149_400}
# Satellite: 1,000,000 Sentinel-2 series of 46 steps (NAS-Bench-360); a 9:1 train/test split is assumed, values
#   float64 (pickled dict {data, label} per .npy as the real files).
SATELLITE = {"train": 900_000, "test": 100_000}
# CIFAR-100: the python tarball, uint8 (N, 3072) pickles, 50,000 / 10,000.
CIFAR = {"train": 50_000, "test": 10_000}
# FSD50K: the prepare step's HDF5 (1, 96, 102) float32 chunks of 256 rows; train = one chunk per tr.csv clip
#   (36,796), test = every 1-s chunk of the 10,231 eval clips (27.9 h): ~105,000 (approximate).
FSD50K = {"train": 36_796, "test": 105_000}
# PDEBench: 2D CFD M1.0 128: density / pressure / Vx / Vy (10,000, 21, 128, 128) float32 (55 GB); 1D CFD:
#   density / pressure / Vx (10,000, 101, 1024); 2D diffusion-reaction: 1,000 groups of data (101, 128, 128, 2).
CFD2D = {"n": 10_000, "t": 21, "space": (128, 128), "fields": ("density", "pressure", "Vx", "Vy")}
CFD1D = {"n": 10_000, "t": 101, "space": (1024,), "fields": ("density", "pressure", "Vx")}
DIFFREACT2D = {"n": 1_000, "t": 101, "space": (128, 128), "channels": 2}


def scaled(n: int, scale: float, least: int = 64) -> int:
    return n if scale >= 1 else max(least, int(round(n * scale)))


# ----------------------------------------------------------------------------- writers
def write_zeros(fh, nbytes: int) -> None:
    """``nbytes`` zero bytes written to ``fh`` in blocks of BLOCK."""
    zeros = bytes(min(BLOCK, max(nbytes, 1)))
    left = nbytes
    while left > 0:
        fh.write(zeros[: min(left, BLOCK)])
        left -= BLOCK


def write_npz(path: Path, members: dict, deflated: bool) -> None:
    """An npz of ``members`` {name: (shape, dtype, fill)}: fill None -> zeros written in blocks, else an
    in-memory array written whole (labels)."""
    from numpy.lib import format as npformat

    method = zipfile.ZIP_DEFLATED if deflated else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method, allowZip64=True, compresslevel=1 if deflated else None) as z:
        for name, (shape, dtype, fill) in members.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as fh:
                if fill is not None:
                    npformat.write_array(fh, np.asarray(fill, dtype=dtype))
                    continue
                header = {"descr": npformat.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                          "shape": tuple(shape)}
                npformat.write_array_header_1_0(fh, header)
                write_zeros(fh, int(np.prod(shape)) * np.dtype(dtype).itemsize)


def sparse_dataset(group, name: str, shape: tuple, dtype=np.float32) -> None:
    """A contiguous HDF5 dataset allocated in the file but never written: a hole of the real size."""
    import h5py

    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.CONTIGUOUS)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    h5py.h5d.create(group.id, name.encode(), h5py.h5t.py_create(np.dtype(dtype)), h5py.h5s.create_simple(shape),
                    dcpl=dcpl)


def multilabel(n: int, k: int) -> np.ndarray:
    """(n, k) float32 targets with every label present somewhere."""
    y = np.zeros((n, k), np.float32)
    y[np.arange(n), np.arange(n) % k] = 1
    return y


def gen_deepsea(root: Path, scale: float, deflated: bool = False) -> None:
    n = {k: scaled(v, scale) for k, v in DEEPSEA.items()}
    members = {}
    for part in ("train", "val", "test"):
        members[f"x_{part}"] = ((n[part], 1000, 4), np.float32, None)
        members[f"y_{part}"] = ((n[part], 36), np.float32, multilabel(n[part], 36))
    folder = root / "nb360" / "deepsea"
    folder.mkdir(parents=True, exist_ok=True)
    write_npz(folder / "deepsea_filtered.npz", members, deflated)


def gen_satellite(root: Path, scale: float) -> None:
    folder = root / "nb360" / "satellite"
    folder.mkdir(parents=True, exist_ok=True)
    for part, size in SATELLITE.items():
        n = scaled(size, scale)
        record = {"data": np.zeros((n, 46), np.float64), "label": np.arange(n) % 24 + 1}
        np.save(folder / f"satellite_{part}.npy", record, allow_pickle=True)


def gen_cifar(root: Path, scale: float) -> None:
    import io

    folder = root / "nb360" / "cifar100"
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "cifar-100-python.tar.gz", "w:gz", compresslevel=1) as tar:
        for part, size in CIFAR.items():
            n = scaled(size, scale, least=200)
            blob = pickle.dumps({"data": np.zeros((n, 3072), np.uint8), "fine_labels": [i % 100 for i in range(n)],
                                 "coarse_labels": [i % 20 for i in range(n)]}, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{part}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def gen_fsd50k(root: Path, scale: float) -> None:
    import h5py

    folder = root / "nb360" / "fsd50k"
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "fsd50k_features.h5", "w") as f:
        for part, size in FSD50K.items():
            n = scaled(size, scale)
            xs = f.create_dataset(f"x_{part}", (n, 1, 96, 102), np.float32, chunks=(min(n, 256), 1, 96, 102))
            zeros = np.zeros((256, 1, 96, 102), np.float32)
            for i in range(0, n, 256):
                xs[i: i + 256] = zeros[: min(256, n - i)]
            f[f"y_{part}"] = multilabel(n, 200)
            f[f"clip_ids_{part}"] = np.arange(n, dtype=np.int64) // (1 if part == "train" else 10)


def gen_pde_arrays(spec: dict, name: str):
    def gen(root: Path, scale: float) -> None:
        import h5py

        folder = root / "pdebench"
        folder.mkdir(parents=True, exist_ok=True)
        with h5py.File(folder / name, "w") as f:
            for field_name in spec["fields"]:
                sparse_dataset(f, field_name, (scaled(spec["n"], scale), spec["t"], *spec["space"]))
    return gen


def gen_diffreact2d(root: Path, scale: float) -> None:
    import h5py

    folder = root / "pdebench"
    folder.mkdir(parents=True, exist_ok=True)
    s = DIFFREACT2D
    with h5py.File(folder / "2D_diff-react_NA_NA.h5", "w") as f:
        for i in range(scaled(s["n"], scale, least=20)):
            sparse_dataset(f.create_group(f"{i:04d}"), "data", (s["t"], *s["space"], s["channels"]))


# ----------------------------------------------------------------------------- the datasets
@dataclass
class Dataset:
    name: str
    task: str  # task file, relative to the repository
    shape: str  # the stored inputs, for the table
    x_values: int  # input values of all splits at real size (float32 bytes = 4 x this)
    written: int  # bytes written to disk at real size (sparse parts excluded)
    write: object  # (data_dir, scale) -> None
    lazy_edit: dict = field(default_factory=dict)  # extra task-file changes for the lazy run
    note: str = ""


def _datasets() -> list[Dataset]:
    ds, sat, cf, fsd = DEEPSEA, SATELLITE, CIFAR, FSD50K
    deepsea_values = sum(ds.values()) * 4000
    fsd_values = sum(fsd.values()) * 96 * 102
    cfd2d_x = CFD2D["n"] * len(CFD2D["fields"]) * 64 * 64
    cfd1d_x = CFD1D["n"] * len(CFD1D["fields"]) * 1024
    return [
        Dataset("deepsea", "benchmarks/nb360/deepsea.yaml",
                f"x (N, 1000, 4) f32, N {ds['train']:,}+{ds['val']:,}+{ds['test']:,} (npz, stored)",
                deepsea_values, 4 * deepsea_values, gen_deepsea, note="member dtype assumed float32"),
        Dataset("deepsea-deflated", "benchmarks/nb360/deepsea.yaml",
                "the same, npz deflated (np.savez_compressed)", deepsea_values, 4 * deepsea_values,
                lambda root, scale: gen_deepsea(root, scale, deflated=True),
                note="lazy first pass decompresses each x member once to <data_dir>/lazy"),
        Dataset("satellite", "benchmarks/nb360/satellite.yaml",
                f"x (N, 46) f64 pickled dict .npy, N {sat['train']:,}+{sat['test']:,}",
                sum(sat.values()) * 46, sum(sat.values()) * 46 * 8, gen_satellite,
                note="split 9:1 and float64 assumed; lazy first pass converts the pickle once"),
        Dataset("cifar100", "benchmarks/nb360/cifar100.yaml",
                f"x (N, 3072) u8 pickles in tar.gz, N {cf['train']:,}+{cf['test']:,}",
                sum(cf.values()) * 3072, sum(cf.values()) * 3072, gen_cifar,
                lazy_edit={"normalize": None},
                note="lazy run without data.normalize (refused with lazy_inputs by orca/spec/tasks.py)"),
        Dataset("fsd50k", "benchmarks/nb360/fsd50k.yaml",
                f"x (N, 1, 96, 102) f32 HDF5, N {fsd['train']:,}+{fsd['test']:,}",
                fsd_values, 4 * fsd_values, gen_fsd50k, note="test chunk count approximate"),
        Dataset("pde-cfd2d", "benchmarks/pdebench/pde-cfd2d.yaml",
                "4 fields (10,000, 21, 128, 128) f32 HDF5 (55 GB), x/y at 64 x 64",
                cfd2d_x, 0, gen_pde_arrays(CFD2D, "2D_CFD_Rand_M1.0_Eta0.1_Zeta0.1_periodic_128_Train.hdf5"),
                note="sparse file"),
        Dataset("pde-cfd1d", "benchmarks/pdebench/pde-cfd1d.yaml",
                "3 fields (10,000, 101, 1024) f32 HDF5 (12 GB), x/y (1, 3072)",
                cfd1d_x, 0, gen_pde_arrays(CFD1D, "1D_CFD_Rand_Eta0.1_Zeta0.1_periodic_Train.hdf5"),
                lazy_edit={"normalize": None},
                note="sparse file; lazy run without data.normalize (its fitted input statistics need the inputs "
                     "in memory: refused with lazy_inputs)"),
        Dataset("pde-diffreact2d", "benchmarks/pdebench/pde-diffreact2d.yaml",
                "1,000 groups data (101, 128, 128, 2) f32 HDF5 (13 GB), x/y (1, 128, 128)",
                DIFFREACT2D["n"] * 128 * 128, 0, gen_diffreact2d, note="sparse file"),
    ]


# ----------------------------------------------------------------------------- the measured subprocess
def child(spec: dict) -> None:
    """Run in a fresh interpreter: what a stage does with its data; print one JSON line with the peak RSS."""
    import resource

    sys.path.insert(0, str(REPO))
    import torch

    from orca.data.taskdata import prepare_split
    from orca.spec.tasks import load_task
    from orca.stages.common import batch_rows, training_inputs

    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    task = load_task(spec["task"])
    started = time.perf_counter()
    split = prepare_split(task, 0, spec["data_dir"])
    split.checksum()
    x = training_inputs(split.x_train)
    rng = np.random.default_rng(0)
    bs, ebs = task.refine.batch_size, task.refine.eval_batch_size
    for _ in range(TRAIN_BATCHES):
        batch_rows(x, torch.from_numpy(rng.choice(len(x), min(bs, len(x)), replace=False)))
    torch.from_numpy(np.ascontiguousarray(split.x_test[0: ebs]))
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "base_mb": base_mb,
                      "seconds": time.perf_counter() - started, "x_train": list(split.x_train.shape),
                      "lazy": type(split.x_train).__name__ == "LazyRows"}))


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(task_path: Path, data_dir: Path, limit_mb: float) -> dict:
    """One subprocess run of :func:`child`; stopped (``killed``) when its resident set passes ``limit_mb``."""
    spec = json.dumps({"task": str(task_path), "data_dir": str(data_dir)})
    proc = subprocess.Popen([sys.executable, __file__, "--child", spec], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak_seen = 0.0
    while proc.poll() is None:
        peak_seen = max(peak_seen, _rss_mb(proc.pid))
        if peak_seen > limit_mb:
            proc.kill()
            proc.wait()
            return {"killed": True, "peak_mb": peak_seen}
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode != 0:
        return {"error": (err.strip().splitlines() or ["?"])[-1][:300]}
    return json.loads(out.strip().splitlines()[-1])


def task_variant(ds: Dataset, lazy: bool, folder: Path) -> Path:
    """The task file with data.args.lazy_inputs set (and the dataset's lazy edits), written to ``folder``."""
    import yaml

    spec = yaml.safe_load((REPO / ds.task).read_text())
    spec["data"]["args"]["lazy_inputs"] = lazy
    if lazy:
        for key, value in ds.lazy_edit.items():
            if value is None:
                spec["data"].pop(key, None)
            else:
                spec["data"][key] = value
    path = folder / f"{ds.name}-{'lazy' if lazy else 'eager'}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def mem_mb(ds: Dataset) -> int:
    import yaml

    return int(yaml.safe_load((REPO / ds.task).read_text())["resources"]["mem_mb"])


def task_lazy(ds: Dataset) -> bool:
    """The task file's own data.args.lazy_inputs."""
    import yaml

    return bool(yaml.safe_load((REPO / ds.task).read_text())["data"]["args"].get("lazy_inputs"))


def _figure(run: dict | None) -> str:
    if run is None:
        return "skipped"
    if run.get("killed"):
        return f">{run['peak_mb']:.0f}"
    if "error" in run:
        return "error"
    return f"{run['peak_mb']:.0f}"


def _peak(*runs) -> float | None:
    vals = [r["peak_mb"] for r in runs if r and "peak_mb" in r]
    return max(vals) if vals else None


def bench(ds: Dataset, work: Path, scale: float, eager: bool, limit_mb: float) -> dict:
    """Write ``ds``'s file, run every (mode, pass), remove the data; the row of the table."""
    data_dir = work / ds.name
    row = {"dataset": ds.name, "task": ds.task, "array_shape": ds.shape,
           "array_gb": round(4 * ds.x_values * min(scale, 1.0) / 1e9, 2), "mem_mb": mem_mb(ds), "note": ds.note,
           "task_lazy": "yes" if task_lazy(ds) else "no"}
    need = int(ds.written * min(scale, 1.0) * 2.2)  # the file, the eager prepared copy, an uncompressed copy
    free = shutil.disk_usage(work).free
    if need > free:
        row.update(skipped=f"needs ~{need / 1e9:.1f} GB on {work}, {free / 1e9:.1f} GB free")
        return row
    data_dir.mkdir(parents=True)
    (data_dir / "REHEARSAL-STANDINS").write_text("bench_loaders: zeros of the real size; checksums skipped\n")
    started = time.perf_counter()
    ds.write(data_dir, scale)
    row["write_s"] = round(time.perf_counter() - started, 1)
    for mode in (["eager"] if eager else []) + ["lazy"]:
        task = task_variant(ds, mode == "lazy", work)
        shutil.rmtree(data_dir / "prepared", ignore_errors=True)
        for pass_ in ("first", "cached"):
            run = measure(task, data_dir, limit_mb)
            row[f"{mode}_{pass_}"] = run
            print(f"  {ds.name:18s} {mode:5s} {pass_:6s} {_figure(run):>8s} MB"
                  f"{'  ' + run['error'] if 'error' in run else ''}", flush=True)
            if run.get("killed") or "error" in run:
                break
    shutil.rmtree(data_dir, ignore_errors=True)
    return row


# ----------------------------------------------------------------------------- table
COLUMNS = ["dataset", "array_shape", "array_gb", "eager_peak_mb", "lazy_peak_mb", "mem_mb", "fits",
           "eager_share", "task_lazy",
           "eager_first_mb", "eager_cached_mb", "lazy_first_mb", "lazy_cached_mb", "base_mb", "lazy_seconds",
           "task", "note"]


def flat(row: dict) -> dict:
    runs = {k: row.get(k) for k in ("eager_first", "eager_cached", "lazy_first", "lazy_cached")}
    eager_peak, lazy_peak = _peak(runs["eager_first"], runs["eager_cached"]), _peak(runs["lazy_first"],
                                                                                    runs["lazy_cached"])
    killed = any(r and r.get("killed") for r in (runs["eager_first"], runs["eager_cached"]))
    out = {k: row.get(k, "") for k in ("dataset", "array_shape", "array_gb", "mem_mb", "task")}
    out["eager_peak_mb"] = ("skipped" if eager_peak is None else f">{eager_peak:.0f}" if killed
                            else f"{eager_peak:.0f}")
    out["lazy_peak_mb"] = "" if lazy_peak is None else f"{lazy_peak:.0f}"
    out["fits"] = "" if lazy_peak is None else ("yes" if lazy_peak < row["mem_mb"] else "NO")
    out["eager_share"] = "" if eager_peak is None else f"{100 * eager_peak / row['mem_mb']:.0f}%"
    out["task_lazy"] = row.get("task_lazy", "")
    for k, r in runs.items():
        out[f"{k}_mb"] = _figure(r) if r is not None else ""
    base = [r.get("base_mb") for r in runs.values() if r and r.get("base_mb")]
    out["base_mb"] = f"{min(base):.0f}" if base else ""
    lazy_s = [r.get("seconds") for r in (runs["lazy_first"], runs["lazy_cached"]) if r and r.get("seconds")]
    out["lazy_seconds"] = "/".join(f"{s:.1f}" for s in lazy_s)
    out["note"] = "; ".join(v for v in (row.get("note"), row.get("skipped") and f"skipped: {row['skipped']}") if v)
    return out


def print_table(rows: list[dict]) -> None:
    shown = ["dataset", "array_shape", "array_gb", "eager_peak_mb", "lazy_peak_mb", "mem_mb", "fits", "eager_share",
             "task_lazy"]
    width = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in shown}
    print("  ".join(c.ljust(width[c]) for c in shown))
    for r in rows:
        print("  ".join(str(r[c]).ljust(width[c]) for c in shown))
    print("\nper pass (MB; first = empty prepared cache, cached = later stages):")
    for r in rows:
        print(f"  {r['dataset']:18s} eager {r['eager_first_mb'] or '-':>8s} / {r['eager_cached_mb'] or '-':>8s}"
              f"   lazy {r['lazy_first_mb'] or '-':>6s} / {r['lazy_cached_mb'] or '-':>6s}   base {r['base_mb']:>4s}"
              f"   {r['note']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="share of each split's samples (1 = real size)")
    parser.add_argument("--only", default="", help="comma-separated dataset names")
    parser.add_argument("--work", type=Path, default=None, help="folder for the generated files (default: a temp "
                        "folder under $TMPDIR, removed afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "sizing" / "loaders.csv")
    parser.add_argument("--no-eager", action="store_true", help="lazy runs only")
    parser.add_argument("--ram-limit-mb", type=float, default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    limit = args.ram_limit_mb or 0.9 * _available_mb()
    chosen = [d for d in _datasets() if not args.only or d.name in args.only.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-loaders-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder {work} ({shutil.disk_usage(work).free / 1e9:.0f} GB free), scale {args.scale}, "
          f"eager runs stopped above {limit:.0f} MB")
    rows = []
    try:
        for ds in chosen:
            row = bench(ds, work, args.scale, not args.no_eager, limit)
            if row.get("skipped"):
                print(f"  {ds.name}: skipped: {row['skipped']}")
            rows.append(flat(row))
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    print(f"\nwrote {args.out}")


def _available_mb() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return 8192.0


if __name__ == "__main__":
    main()
