"""Classical baselines measured in the same run: XGBoost and logistic regression on flattened inputs.

They see exactly the training split the networks train on (validation rows held out, unused) and are
scored on the same test split with the same metric.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from .records import build_record, write_record
from ..spec.jobs import JobSettings

if TYPE_CHECKING:
    from .common import JobIO


def _xgboost(kind: str, seed: int):
    import xgboost as xgb

    common = dict(n_estimators=200, max_depth=4, learning_rate=0.1, n_jobs=1, random_state=seed)
    return xgb.XGBClassifier(**common) if kind == "classification" else xgb.XGBRegressor(**common)


def _logistic_regression(kind: str, seed: int):
    from sklearn.linear_model import LogisticRegression, Ridge

    if kind == "classification":
        return LogisticRegression(max_iter=2000, random_state=seed)
    return Ridge(random_state=seed)


BASELINES: dict[str, Callable] = {"xgboost": _xgboost, "logistic-regression": _logistic_regression}


def scores_of(model, x: np.ndarray, kind: str) -> np.ndarray:
    """Scores in the form the metrics take: log-probabilities (logits up to a constant) for classifiers."""
    if kind == "classification":
        return np.log(np.clip(model.predict_proba(x), 1e-12, 1.0))
    return np.asarray(model.predict(x)).reshape(len(x), -1)


def run_baseline(job: JobSettings, io: JobIO) -> dict:
    """Fit one baseline (``job.job["method"]``) on one seed's split; write the result JSON to ``io.out`` (same
    fields as a refine result) and return it."""
    # sklearn (metrics, the data split): imported by a baseline job, not by the planner, which reads BASELINES
    from ..evaluation.metrics import get_metric
    from ..evaluation.scoring import score
    from .common import setup

    method, seed = job.job["method"], job.job["seed"]
    task = job.task
    if method not in BASELINES:
        raise ValueError(f"unknown baseline {method!r}; allowed: {', '.join(sorted(BASELINES))}")
    kind = task.output.kind
    if kind not in ("classification", "regression"):
        raise ValueError(f"baseline {method!r} supports classification and regression tasks, not {kind!r}")
    if task.data.lazy_inputs:
        raise ValueError(f"baseline {method!r} fits on all inputs in memory, but task {task.name!r} keeps them on "
                         "disk (data.args.lazy_inputs); leave the baseline out of this task's table")
    run = setup(job, io.out, io.data_dir, uses_torch=False)
    data, metric = run.data, get_metric(task.metric)
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    y_fit = data.y_train if kind == "classification" else data.y_train.reshape(len(data.y_train), -1)
    model = BASELINES[method](kind, seed).fit(flat(data.x_train), y_fit)
    ignore = task.output.ignore
    val = score(metric, data.y_val, scores_of(model, flat(data.x_val), kind), data.groups_val, ignore)
    test = score(metric, data.y_test, scores_of(model, flat(data.x_test), kind), data.groups_test, ignore)
    scores = {"test_at_best_val": test, "test_last_epoch": test, "best_val": val, "best_epoch": None}
    record = build_record(job, metric, scores, data, run.started, io.out)
    write_record(record, io.out)
    return record.to_json()
