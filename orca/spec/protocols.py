"""Evaluation protocols: how a run splits its data, which epoch it reports and how it scores.

Two protocols, described as data (a grid axis: config ``protocols: [original, clean]``):

* ``original``: what the released ORCA code does (github.com/sjunhongshen/ORCA at 19b8c1c, src/main.py and
  src/task_configs.py with ``valid_split: False``, as every released config sets it). Align and refine see
  the whole training set; the test set is scored after every epoch (``val_loader = test_loader``) and the
  reported "best" is the epoch with the best *test* score, recorded as ``test_best_epoch_original``; the
  last epoch's test score is recorded too. ``evaluate`` averages the metric over chunks of loader batches
  of at least ``eval_batch_size`` samples; PSICOV and Cosmic use the original's metric code
  (:data:`orca.evaluation.metrics.ORIGINAL_METRICS`); OTDD aligners use the original's annealed Sinkhorn (``solver:
  original``); a training loss with ignored targets (Cosmic) zeroes output and target there and averages over
  every entry, as the original's ``mask`` transform does (``masked_loss_mean: all``).
* ``clean``: a seeded validation split carved from the training data (``data.val_fraction``), the test
  score at the best-validation epoch (``test_at_best_val``), whole-set metrics, the converged align solver, a
  masked training loss averaged over the entries that count (``masked_loss_mean: counted``).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Protocol", "PROTOCOLS", "DEFAULT_PROTOCOL", "align_solver", "get_protocol", "selected_score"]


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol; see the module docstring."""

    name: str
    validation_split: bool  # carve a seeded validation part from the training data (False: train on all of it)
    select_on: str  # "val" | "test": the part scored after every epoch, whose best epoch is reported
    selected_score: str  # the record's name for the score of the selected epoch
    chunked_metric: bool  # metric averaged over chunks of >= eval_batch_size samples (ORCA's evaluate)
    metric_variant: str  # "clean" | "original": which implementation of PSICOV MAE8 / Cosmic AUROC
    align_solver: str  # "converged" | "original": the OTDD aligners' OT solver (issue 11, fact 17)
    # "counted" | "all": a loss with ignored targets (output.ignore; Cosmic) averages over the entries that count,
    # or zeroes output and target there and averages over all entries (ORCA main.py + utils.py mask);
    # passed as make_loss(masked_mean=...) by orca/stages/refine.py
    masked_loss_mean: str
    summary: str


PROTOCOLS: dict[str, Protocol] = {
    "original": Protocol(
        "original", validation_split=False, select_on="test", selected_score="test_best_epoch_original",
        chunked_metric=True, metric_variant="original", align_solver="original", masked_loss_mean="all",
        summary="the released code's: whole training set, test scored every epoch, test-selected best epoch, "
                "metric averaged over eval_batch_size chunks"),
    "clean": Protocol(
        "clean", validation_split=True, select_on="val", selected_score="test_at_best_val",
        chunked_metric=False, metric_variant="clean", align_solver="converged", masked_loss_mean="counted",
        summary="seeded validation split, test score at the best-validation epoch, whole-set metric"),
}
DEFAULT_PROTOCOL = "clean"


def get_protocol(name: str | Protocol) -> Protocol:
    """The protocol called ``name``; ValueError listing the allowed names otherwise."""
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown evaluation protocol {name!r}; allowed: {', '.join(PROTOCOLS)}") from None


def selected_score(protocol: str) -> str:
    """Name of the score a protocol reports as its result (e.g. ``test_at_best_val`` for ``clean``)."""
    return get_protocol(protocol).selected_score


def align_solver(protocol: str | Protocol, task_solver: str | None = None) -> str:
    """The OT solver an align job uses: a task file's explicit ``align.solver`` when set, else the protocol's."""
    return task_solver or get_protocol(protocol).align_solver
