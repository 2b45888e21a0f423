"""Evaluation metrics in the units the ORCA paper reports (all lower-is-better).

Every metric has the signature ``fn(y_true, y_score) -> float`` where ``y_score`` is the
model's raw output as a numpy array:

* classification: logits ``(N, K)``; ``y_true`` integer labels ``(N,)`` (one-hot ``(N, K)``
  is accepted and arg-maxed);
* multi-label: logits ``(N, K)``; ``y_true`` in {0, 1} of shape ``(N, K)``;
* regression: ``(N,)`` or ``(N, K)``;
* dense prediction: ``(N, ...)``, the same shape as ``y_true``.

Use :func:`get_metric` to look one up by name; :data:`METRICS` is the registry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Metric", "METRICS", "ORIGINAL_METRICS", "get_metric"]


@dataclass(frozen=True)
class Metric:
    """A named evaluation metric; ``fn(y_true, y_score) -> float`` in ``units``.

    ``supports_mask``: ``fn`` also takes ``mask=`` (bool, ``y_true``'s shape, True = the entry counts).
    """

    name: str
    display: str
    higher_is_better: bool
    units: str
    fn: Callable[..., float]
    supports_mask: bool = False

    def __call__(self, y_true, y_score, mask=None, **options) -> float:
        """``fn(y_true, y_score)``; ``mask`` and ``options`` (e.g. ``mae8_original``'s lengths) passed on when given."""
        if mask is None:
            return self.fn(y_true, y_score, **options)
        if not self.supports_mask:
            raise ValueError(f"metric {self.name!r} cannot skip masked target entries")
        return self.fn(y_true, y_score, mask=mask, **options)


# ----------------------------------------------------------------------------- helpers
def _labels(y_true: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Integer labels (N,) from labels (N,), (N, 1) or one-hot (N, K)."""
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] > 1 and (n_classes is None or y.shape[1] == n_classes):
        return y.argmax(axis=1).astype(np.int64)
    return y.reshape(-1).astype(np.int64)


def _logits2d(y_score: np.ndarray) -> np.ndarray:
    s = np.asarray(y_score, dtype=np.float64)
    if s.ndim == 1:
        s = s[:, None]
    return s.reshape(s.shape[0], -1)


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits, numerically stable."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _per_sample_flat(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_score, dtype=np.float64)
    if t.size != p.size:
        raise ValueError(f"shape mismatch: y_true {t.shape} vs y_score {p.shape}")
    n = t.shape[0]
    return t.reshape(n, -1), p.reshape(n, -1)


# ----------------------------------------------------------------------------- metrics
def zero_one_error_pct(y_true, y_score) -> float:
    """100 * (1 - top-1 accuracy) from argmax of logits (N, K); percent."""
    s = _logits2d(y_score)
    y = _labels(y_true, s.shape[1])
    return float(100.0 * np.mean(s.argmax(axis=1) != y))


def one_minus_auroc(y_true, y_score) -> float:
    """1 - ROC-AUC on softmax probabilities of logits (N, K).

    K == 2: AUC of class 1; K == 1: a single logit, sigmoid; K > 2: one-vs-one macro
    (``roc_auc_score(multi_class="ovo")``), as the original OpenML code.
    """
    from sklearn.metrics import roc_auc_score  # imported when scored (planning stays light)

    s = _logits2d(y_score)
    y = _labels(y_true, s.shape[1])
    if s.shape[1] == 1:
        return float(1.0 - roc_auc_score(y, _sigmoid(s[:, 0])))
    prob = _softmax(s)
    if s.shape[1] == 2:
        return float(1.0 - roc_auc_score(y, prob[:, 1]))
    return float(1.0 - roc_auc_score(y, prob, multi_class="ovo", labels=np.arange(s.shape[1])))


def one_minus_macro_f1(y_true, y_score) -> float:
    """1 - macro F1 over the classes present in y_true or predicted; argmax of (N, K)."""
    from sklearn.metrics import f1_score  # imported when scored (planning stays light)

    s = _logits2d(y_score)
    y = _labels(y_true, s.shape[1])
    return float(1.0 - f1_score(y, s.argmax(axis=1), average="macro", zero_division=0))


def one_minus_r2(y_true, y_score) -> float:
    """1 - R^2 (coefficient of determination), uniform average over outputs (N,) / (N, K)."""
    from sklearn.metrics import r2_score  # imported when scored (planning stays light)

    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_score, dtype=np.float64).reshape(t.shape)
    return float(1.0 - r2_score(t, p, multioutput="uniform_average"))


def relative_l2(y_true, y_score) -> float:
    """Mean over samples of ||pred_i - true_i||_2 / ||true_i||_2, each sample flattened.

    Same as the FNO/NAS-Bench-360 ``LpLoss.rel`` (Darcy Flow); unitless.
    """
    t, p = _per_sample_flat(y_true, y_score)
    return float(np.mean(np.linalg.norm(p - t, axis=1) / np.linalg.norm(t, axis=1)))


def nrmse(y_true, y_score) -> float:
    """PDEBench-style normalised RMSE as ORCA computes it; unitless.

    Per sample i (all channels/time/space flattened into M values):
    ``nRMSE_i = sqrt(mean_m (p_im - t_im)^2) / sqrt(mean_m t_im^2) = ||p_i - t_i||_2 / ||t_i||_2``
    (the 1/M factors cancel), then the mean over samples. Note: the PDEBench repo's own
    ``metric_func`` normalises per channel (and time step) before averaging; ORCA's ``nmse``
    flattens the whole sample, which is what is reproduced here.
    """
    t, p = _per_sample_flat(y_true, y_score)
    rmse = np.sqrt(np.mean((p - t) ** 2, axis=1))
    rms_true = np.sqrt(np.mean(t**2, axis=1))
    return float(np.mean(rmse / rms_true))


def one_minus_map(y_true, y_score) -> float:
    """1 - macro average precision over labels of sigmoid(logits) (N, K); y_true {0,1} (N, K).

    Labels with no positive sample in y_true are skipped (AP is undefined for them).
    """
    from sklearn.metrics import average_precision_score  # imported when scored (planning stays light)

    t = np.asarray(y_true).reshape(len(y_true), -1)
    s = _sigmoid(_logits2d(y_score))
    keep = t.sum(axis=0) > 0
    if not keep.any():
        raise ValueError("one_minus_map: no label has a positive sample")
    return float(1.0 - average_precision_score(t[:, keep], s[:, keep], average="macro"))


def one_minus_auroc_multilabel(y_true, y_score) -> float:
    """1 - mean over the K targets of ROC-AUC of sigmoid(logits) (N, K) (DeepSEA).

    Targets whose y_true column is constant (AUC undefined) are skipped.
    """
    from sklearn.metrics import roc_auc_score  # imported when scored (planning stays light)

    t = np.asarray(y_true).reshape(len(y_true), -1)
    s = _sigmoid(_logits2d(y_score))
    aucs = [roc_auc_score(t[:, k], s[:, k]) for k in range(t.shape[1]) if 0 < t[:, k].sum() < len(t)]
    if not aucs:
        raise ValueError("one_minus_auroc_multilabel: every target is constant")
    return float(1.0 - np.mean(aucs))


MAE8_MAX_DIST = 8.0  # Angstrom, inclusive (pairs with true distance > 8 are dropped)
MAE8_MIN_SEP = 24  # residues, inclusive
MAE8_MIN_PRED = 0.01  # predictions below this are clipped, as the NAS-Bench-360 code does


def mae8(y_true, y_score, mask=None) -> float:
    """PSICOV MAE8 (Angstrom) as the NAS-Bench-360 / ORCA evaluation code computes it.

    Inputs: distance maps (N, 1, L, L) or (N, L, L); NaN in y_true marks padding/missing, and so
    does False in ``mask`` (bool, y_true's shape): such pairs are skipped.
    Per protein n: ``S = max((P + P^T) / 2, 0.01)``; pairs (i, j) with ``j - i >= 24``
    (upper triangle, so each unordered pair once) and ``0 <= T_ij <= 8`` (the code drops
    ``T > 8``, so exactly 8 A is kept); ``MAE_n = mean |S_ij - T_ij|`` over those pairs.
    Result: mean of MAE_n over proteins that have at least one such pair (inf if none).
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_score, dtype=np.float64)
    if t.ndim == 4:
        t = t[:, 0]
    if p.ndim == 4:
        p = p[:, 0]
    if t.shape != p.shape or t.ndim != 3 or t.shape[1] != t.shape[2]:
        raise ValueError(f"mae8 expects (N, 1, L, L) maps, got {np.shape(y_true)} and {np.shape(y_score)}")
    counts = np.ones(t.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(t.shape)
    L = t.shape[1]
    i, j = np.meshgrid(np.arange(L), np.arange(L), indexing="ij")
    sep_ok = (j - i) >= MAE8_MIN_SEP
    per_protein = []
    for tn, pn, cn in zip(t, p, counts):
        sym = np.maximum((pn + pn.T) / 2.0, MAE8_MIN_PRED)
        with np.errstate(invalid="ignore"):
            keep = sep_ok & cn & np.isfinite(tn) & (tn <= MAE8_MAX_DIST)
        if keep.any():
            per_protein.append(np.mean(np.abs(sym[keep] - tn[keep])))
    return float(np.mean(per_protein)) if per_protein else float("inf")



def one_minus_auroc_pixel(y_true, y_score, binarize: bool = True, *, mask=None) -> float:
    """NAS-Bench-360 Cosmic: 1 - ROC-AUC over all pixels of all samples, flattened together.

    y_true (N, 1, H, W): 1 = cosmic-ray pixel, 0 = clean, anything else (e.g. -1, the ignore mask) is
    skipped, and so are pixels where ``mask`` (bool, y_true's shape) is False. y_score: logits of the
    same shape. With ``binarize`` (the NAS-Bench-360/ORCA evaluation) the score is the hard prediction
    logit > 0, i.e. the AUROC of one operating point, (TPR + TNR) / 2.
    """
    from sklearn.metrics import roc_auc_score  # imported when scored (planning stays light)

    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    s = np.asarray(y_score, dtype=np.float64).reshape(-1)
    if t.size != s.size:
        raise ValueError(f"shape mismatch: y_true {np.shape(y_true)} vs y_score {np.shape(y_score)}")
    keep = (t == 0) | (t == 1)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool).reshape(-1)
    t, s = t[keep], s[keep]
    if t.size == 0 or t.min() == t.max():
        raise ValueError("one_minus_auroc_pixel: need both positive and negative pixels")
    if binarize:
        s = (s > 0).astype(np.float64)
    return float(1.0 - roc_auc_score(t.astype(np.int64), s))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("zero_one_error_pct", "0-1 error (%)", False, "percent", zero_one_error_pct),
        Metric("one_minus_auroc", "1 - AUROC", False, "fraction", one_minus_auroc),
        Metric("one_minus_macro_f1", "1 - F1 score", False, "fraction", one_minus_macro_f1),
        Metric("one_minus_r2", "1 - R^2", False, "fraction", one_minus_r2),
        Metric("relative_l2", "relative l2", False, "unitless", relative_l2),
        Metric("nrmse", "nRMSE", False, "unitless", nrmse),
        Metric("one_minus_map", "1 - mAP", False, "fraction", one_minus_map),
        Metric("one_minus_auroc_multilabel", "1 - AUROC", False, "fraction", one_minus_auroc_multilabel),
        Metric("mae8", "MAE8", False, "angstrom", mae8, supports_mask=True),
        Metric("one_minus_auroc_pixel", "1 - AUROC", False, "fraction", one_minus_auroc_pixel, supports_mask=True),
    ]
}


# ----------------------------------------------------------------------------- the released code's variants
def _original_symmetrised(p: np.ndarray) -> np.ndarray:
    """ORCA ``psicov_mae`` on one map p (L, L): the upper triangle (diagonal included) is set in place to
    the mean of both triangles, values below 0.01 clipped, then each upper pair (j, k) averaged with
    its (kept) lower entry again, so it counts 0.75 p[k, j] + 0.25 p[j, k] (k > j). Returns (L, L), the
    upper triangle meaningful."""
    upper = np.triu(np.ones(p.shape, dtype=bool))
    once = np.maximum(np.where(upper, (p + p.T) / 2.0, p), MAE8_MIN_PRED)
    return (once.T + once) / 2.0


def mae8_original(y_true, y_score, mask=None, lengths=None, offset: int = 0) -> float:
    """PSICOV MAE8 (Angstrom) as the released ORCA code computes it on one evaluation chunk.

    Differs from :func:`mae8` in two ways: the symmetrisation weights a pair 0.75 / 0.25
    (:func:`_original_symmetrised`), and with ``lengths`` the n-th map of the chunk is cropped to rows and
    columns ``offset : offset + lengths[n]`` (``lengths``: the residue counts of the test list in its order,
    ``offset``: padding rows before each protein), i.e. to the n-th protein *of the list*, not of the chunk:
    with one-protein chunks every protein is cropped to the first protein's length. Pairs: ``k - j >= 24``,
    ``T <= 8``, finite and not masked (``mask`` False = skipped, like the original's NaN targets). Mean
    over the chunk's proteins that have a pair; inf if none.
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_score, dtype=np.float64)
    t, p = (t[:, 0] if t.ndim == 4 else t), (p[:, 0] if p.ndim == 4 else p)
    if t.shape != p.shape or t.ndim != 3 or t.shape[1] != t.shape[2]:
        raise ValueError(f"mae8 expects (N, 1, L, L) maps, got {np.shape(y_true)} and {np.shape(y_score)}")
    counts = np.ones(t.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(t.shape)
    if lengths is not None and len(lengths) < len(t):
        raise ValueError(f"mae8_original: {len(lengths)} protein lengths for a chunk of {len(t)} maps")
    per_protein = []
    for n, (tn, pn, cn) in enumerate(zip(t, p, counts)):
        sym = _original_symmetrised(pn)
        if lengths is not None:
            crop = slice(offset, offset + int(lengths[n]))
            tn, sym, cn = tn[crop, crop], sym[crop, crop], cn[crop, crop]
        j, k = np.indices(tn.shape)
        with np.errstate(invalid="ignore"):
            keep = ((k - j) >= MAE8_MIN_SEP) & cn & np.isfinite(tn) & (tn <= MAE8_MAX_DIST)
        if keep.any():
            per_protein.append(np.mean(np.abs(sym[keep] - tn[keep])))
    return float(np.mean(per_protein)) if per_protein else float("inf")


def one_minus_auroc_pixel_zeroed(y_true, y_score, binarize: bool = True, *, mask=None) -> float:
    """Cosmic's 1 - pixel AUROC as the released ORCA code computes it: the ignored pixels (``mask``
    False) are set to 0 in both the output and the target (its ``mask`` transform ``img * (1 - ignore)``),
    so they count as true negatives (logit 0 is a negative hard prediction); then as
    :func:`one_minus_auroc_pixel` over every pixel."""
    t = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(y_score, dtype=np.float64).reshape(t.shape)
    if mask is not None:
        keep = np.asarray(mask, dtype=bool).reshape(t.shape)
        t, s = np.where(keep, t, 0.0), np.where(keep, s, 0.0)
    return one_minus_auroc_pixel(t, s, binarize=binarize)


#: the released code's implementation of a metric, where it differs from ours (``get_metric(name, "original")``)
ORIGINAL_METRICS: dict[str, Metric] = {
    "mae8": Metric("mae8", "MAE8", False, "angstrom", mae8_original, supports_mask=True),
    "one_minus_auroc_pixel": Metric("one_minus_auroc_pixel", "1 - AUROC", False, "fraction",
                                    one_minus_auroc_pixel_zeroed, supports_mask=True),
}


def get_metric(name: str, variant: str = "clean") -> Metric:
    """Registry lookup; unknown names raise ValueError listing the allowed ones.

    ``variant="original"`` gives the released ORCA code's implementation where it differs from ours
    (:data:`ORIGINAL_METRICS`: PSICOV MAE8, Cosmic pixel AUROC) and the same metric elsewhere.
    """
    if variant not in ("clean", "original"):
        raise ValueError(f"unknown metric variant {variant!r}; allowed: clean, original")
    try:
        metric = METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; allowed: {', '.join(sorted(METRICS))}") from None
    return ORIGINAL_METRICS.get(name, metric) if variant == "original" else metric
