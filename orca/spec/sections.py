"""The typed sections of a task file: one frozen dataclass per section (orca.spec.tasks builds them once per load).

Field names are the task-file keys (schema: orca/schemas/task.schema.yaml); defaults are filled by
orca.spec.tasks before these are built. Free-form parts (loader args, normalisation, ignore, augmentation,
a prepare step's files and args) stay mappings: their keys belong to the module that reads them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class InputSpec:
    """input: ``modality`` "1d" (C, L) or "2d" (C, H, W); ``shape`` per sample, checked against the data."""
    modality: str
    shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class OutputSpec:
    """output: ``kind`` (classification, multilabel, regression, dense), ``num_outputs`` (None: from the
    data), ``ignore`` ({nan: true} / {value: v}: target entries that count in neither loss nor metric)."""
    kind: str
    num_outputs: int | None = None
    ignore: dict | None = None


@dataclass(frozen=True)
class DataSpec:
    """data: the loader, its arguments, the validation share and the optional normalisation."""
    loader: str
    args: dict
    val_fraction: float
    normalize: dict | None = None

    @property
    def lazy_inputs(self) -> bool:
        return bool(self.args.get("lazy_inputs"))


@dataclass(frozen=True)
class LossSpec:
    name: str
    class_weights: str | list | None = None
    pos_weight: float | None = None
    label_smoothing: float | None = None
    reduction: str | None = None  # relative_l2: mean (default) or sum over the batch

    def options(self) -> dict:
        """The options set (besides the name), as keyword arguments of ``orca.training.losses.make_loss``."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "name" and getattr(self, f.name) is not None}


@dataclass(frozen=True)
class EmbedderSpec:
    """embedder: 1d ``target_seq_len`` tokens at most; 2d ``patch_size`` pixels, inputs resized to ``image_size``."""
    target_seq_len: int
    patch_size: int
    image_size: int | None = None


@dataclass(frozen=True)
class BodySpec:
    """body: the released weights (``pretrained``) or random ones; ``dropout`` written into its config (None: its own);
    ``attention``: the self-attention implementation, eager (the released code's) or sdpa (orca/model/backbones.py)."""
    pretrained: bool = True
    dropout: float | None = None
    attention: str = "eager"


@dataclass(frozen=True)
class AlignSpec:
    """align: optimizer settings default to refine's (filled when the task is loaded); ``scheduler`` resolved
    (orca/training/optim.py); ``solver``: the OTDD aligners' OT solver."""
    epochs: int
    maxsamples: int
    batch_size: int
    lr: float
    optimizer: str
    weight_decay: float
    momentum: float
    betas: tuple[float, ...]
    scheduler: dict
    pseudo_labels: int
    max_source: int
    solver: str | None = None  # None: the protocol's choice (orca.spec.protocols)


@dataclass(frozen=True)
class RefineSpec:
    epochs: int
    batch_size: int
    eval_batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    momentum: float
    betas: tuple[float, ...]
    scheduler: dict  # resolved (orca/training/optim.py): {kind: warmup_linear, ...} or {kind: step, ...}
    accum: int
    clip: float
    val_fraction: float | None = None
    augment: dict | None = None
    precision: str = "fp32"  # fp32 (the released code's), tf32 or bf16: orca/training/precision.py
    finetune: str = "full"  # full (the released code's), lora or frozen: orca/model/finetune.py
    lora: dict | None = None  # {rank, alpha, dropout, target_modules} when finetune is lora


@dataclass(frozen=True)
class EvalSpec:
    """eval: ``group_by`` names per-sample id arrays; outputs are averaged per id before the metric."""
    group_by: str | None = None
    original_crop: dict | None = None  # {lengths, offset}: the original protocol's PSICOV metric crop


@dataclass(frozen=True)
class ResourcesSpec:
    mem_mb: int
    runtime_min: int
    gpus: int
    cpus: int


@dataclass(frozen=True)
class PublishedRef:
    """A key into the shared paper tables: (table, task[, method])."""
    table: str
    task: str
    method: str | None = None


@dataclass(frozen=True)
class PrepareSpec:
    """prepare: a step registered in orca.data.preparation (``step``) with its raw ``files`` and ``args``."""
    step: str
    files: tuple[dict, ...]
    root: str | None = None
    args: dict | None = None

    def mapping(self) -> dict:
        """The section as the task file writes it (what orca.data.preparation's functions take)."""
        out = {"step": self.step, "files": [dict(f) for f in self.files]}
        return {**out, **{k: v for k, v in (("root", self.root), ("args", self.args)) if v is not None}}


def _section(cls, values: dict):
    """``cls`` from one validated section; lists become tuples where the field is a tuple of numbers."""
    names = {f.name for f in fields(cls)}
    unknown = set(values) - names
    if unknown:  # the schema allows a key the typed task does not carry: add it to ``cls``
        raise TypeError(f"{cls.__name__} has no field for {', '.join(sorted(unknown))}")
    return cls(**{k: (tuple(v) if isinstance(v, list) and k in ("shape", "betas", "files") else v)
                  for k, v in values.items()})
