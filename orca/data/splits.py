"""Seeded train/validation split carved from the training data (the paper validated on the test set)."""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split


def train_val_indices(y: np.ndarray, fraction: float, seed: int, stratify: bool,
                      groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) of a seeded split; stratified by class when ``stratify`` and every class has 2+ rows.

    With ``groups`` (N,) whole groups go to one side (e.g. all chunks of an audio clip): a seeded
    ``fraction`` of the distinct ids (at least one, at most all but one) forms the validation part.
    """
    if groups is not None:
        return _group_indices(np.asarray(groups).reshape(-1), fraction, seed)
    idx = np.arange(len(y))
    strat = None
    if stratify:
        _, counts = np.unique(y, return_counts=True)
        n_val = int(np.ceil(fraction * len(y)))
        if counts.min() >= 2 and n_val >= len(counts):
            strat = y
    train, val = train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)
    return np.sort(train), np.sort(val)


def _group_indices(groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.unique(groups)
    if len(ids) < 2:
        raise ValueError(f"cannot carve a validation part from {len(ids)} group(s); need 2 or more")
    n_val = min(len(ids) - 1, max(1, int(np.ceil(fraction * len(ids)))))
    val_ids = np.random.default_rng(seed).permutation(ids)[:n_val]
    is_val = np.isin(groups, val_ids)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)
