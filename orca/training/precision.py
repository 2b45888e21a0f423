"""Numeric precision of refine's forward passes (task file ``refine.precision``): fp32, tf32 or bf16.

- ``fp32`` (default): what the released ORCA code runs, plain float32. TF32 is switched off inside the context
  for matmuls and cuDNN convolutions alike (PyTorch leaves cuDNN's on by default), so the name means IEEE float32
  on every GPU; the previous flags are restored after.
- ``tf32``: float32 tensors, but CUDA matmuls and cuDNN convolutions may run in TF32 (10-bit mantissa inputs,
  float32 accumulation) on GPUs that have it (Ampere and later): ``torch.backends.cuda.matmul.allow_tf32``,
  ``torch.backends.cudnn.allow_tf32`` and ``torch.set_float32_matmul_precision("high")`` inside, restored after.
  On CPU (any device but CUDA) ``tf32`` is a no-op: it runs as ``fp32`` (the global matmul precision is left at
  "highest", so oneDNN takes no reduced-precision float32 path either); on pre-Ampere GPUs it also equals fp32.
- ``bf16``: ``torch.autocast(device_type, dtype=torch.bfloat16)``: matmuls, convolutions and attention run in
  bfloat16 while weights, optimizer state and reductions autocast keeps in float32 stay float32. bfloat16 has
  float32's exponent range, so gradients do not underflow and no GradScaler is needed (that is for float16).

The context wraps the forward and the loss only; ``backward`` runs outside it, as PyTorch recommends for
autocast (its backward ops run in the dtypes their forward ops chose).
"""
from __future__ import annotations

import contextlib

import torch

__all__ = ["PRECISIONS", "check_precision", "precision_context"]

PRECISIONS = ("fp32", "tf32", "bf16")


def check_precision(precision: str) -> str:
    """``precision`` when it is one of :data:`PRECISIONS`; ValueError naming the task-file key otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)} "
                         "(set refine.precision in the task file to one of them)")
    return precision


def precision_context(precision: str, device) -> contextlib.AbstractContextManager:
    """A context manager that runs the code inside it at ``precision`` on ``device`` (a torch.device or its
    type string); see the module docstring for what each value does."""
    check_precision(precision)
    kind = torch.device(device).type
    if precision == "bf16":
        return torch.autocast(device_type=kind, dtype=torch.bfloat16)
    return _tf32(precision == "tf32" and kind == "cuda")


#: PyTorch's newer per-backend float32 precision settings (torch >= 2.9), saved and restored beside the flags
_FP32_PRECISION = (("cuda", "matmul"), ("cudnn", "conv"), ("cudnn", "rnn"), ("mkldnn", "matmul"), ("mkldnn", "conv"))


def _settings() -> tuple:
    """The float32 precision settings a context changes: the matmul precision, the TF32 flags, and (where this
    torch has them) the per-backend ``fp32_precision`` values."""
    fine = tuple(getattr(getattr(getattr(torch.backends, b), op, None), "fp32_precision", None)
                 for b, op in _FP32_PRECISION)
    return (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32, fine)


def _restore(saved: tuple) -> None:
    precision, matmul, cudnn, fine = saved
    torch.set_float32_matmul_precision(precision)
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    for (backend, op), value in zip(_FP32_PRECISION, fine):
        if value is not None:
            getattr(getattr(torch.backends, backend), op).fp32_precision = value


@contextlib.contextmanager
def _tf32(enabled: bool):
    """TF32 for CUDA matmuls and cuDNN convolutions on (``enabled``) or off inside; the previous settings after."""
    saved = _settings()
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        _restore(saved)
