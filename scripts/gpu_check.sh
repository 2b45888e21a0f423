#!/usr/bin/env bash
# GPU check (issue 19): on a machine with a CUDA GPU, size one 1D paper row (DeepSEA on RoBERTa-base) and one 2D
# paper row (CIFAR-100 on Swin-base) at their real batch sizes in fp32 and bf16, and print step time, peak GPU
# memory and achieved TFLOP/s. Runs unchanged wherever a GPU is; without one it says so and exits 0.
#   bash scripts/gpu_check.sh            (about 3-5 minutes on one A100/H100, most of it building the bodies)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: SKIPPED: needs a CUDA GPU (torch.cuda.is_available() is False here)"
    exit 0
fi
WORK=${GPU_CHECK_DIR:-$(mktemp -d)}
cat > "$WORK/gpu_check.yaml" <<YAML
cache_dir: $WORK/cache
targets: [gpu_1d, gpu_2d]
protocols: [original]
tables:
  gpu_1d: {title: gpu 1d, tasks: [deepsea], backbones: [roberta-base], aligners: [none], seeds: [0]}
  gpu_2d: {title: gpu 2d, tasks: [cifar100], backbones: [swin-base], aligners: [none], seeds: [0]}
sizing: {warmup_steps: 2, steps: 5, micro_batches: [512], precisions: [fp32, bf16]}
YAML
"$PY" -m orca size --configfile "$WORK/gpu_check.yaml" --sizing-dir "$WORK/sizing" --device cuda
"$PY" - "$WORK/sizing" <<'PYTHON'
import json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("*--cuda.json")):
    rec = json.loads(path.read_text())
    full = rec["refine"]["full"]
    device = rec["provenance"].get("device_name", rec["provenance"].get("device"))
    for precision, p in full["precisions"].items():
        at = p["at_batch"]
        tflops = full["flops_per_step"] / at["step_s"] / 1e12
        print(f"{rec['task']:10s} {rec['backbone']:13s} {precision:5s} batch {full['batch_size']:3d}: "
              f"{at['step_s'] * 1000:8.1f} ms/step, peak GPU {at['peak_gpu_mb'] / 1024:6.2f} GB, "
              f"{tflops:7.1f} TFLOP/s achieved ({full['flops_per_step'] / 1e12:.2f} TFLOP/step) on {device}")
PYTHON
echo "gpu_check: records in $WORK/sizing"
