"""Seeded train/validation split carved from the training data (the paper validated on the test set)."""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split


def train_val_indices(y: np.ndarray, fraction: float, seed: int, stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) of a seeded split; stratified by class when ``stratify`` and every class has 2+ rows."""
    idx = np.arange(len(y))
    strat = None
    if stratify:
        _, counts = np.unique(y, return_counts=True)
        n_val = int(np.ceil(fraction * len(y)))
        if counts.min() >= 2 and n_val >= len(counts):
            strat = y
    train, val = train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)
    return np.sort(train), np.sort(val)
