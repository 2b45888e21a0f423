"""The data layer's errors and value checks: a leaf module (numpy only), so that every loader, the lazy row
sources and orca.data.core (which re-exports them) share them without importing each other."""
from __future__ import annotations

import numpy as np


class DataUnavailableError(RuntimeError):
    """Raw data is not on disk and cannot be obtained (e.g. offline)."""


class DataFormatError(ValueError):
    """A raw or prepared file exists but cannot be read as expected."""


FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_float32(x, where: str) -> np.ndarray:
    """Inputs as float32 (what training uses). Raises DataFormatError naming ``where`` when they are not numbers
    or when finite values lie beyond float32's range (about 3.4e38: they would silently become inf)."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise DataFormatError(f"{where}: inputs are not numbers (dtype {a.dtype}); store numeric arrays")
    if a.dtype.kind == "f" and a.dtype.itemsize > 4 and a.size:
        finite = np.abs(a[np.isfinite(a)])
        peak = float(finite.max()) if finite.size else 0.0
        if peak > FLOAT32_MAX:
            raise DataFormatError(f"{where}: inputs reach {peak:.3g}, beyond the float32 range (+-{FLOAT32_MAX:.3g}) "
                                  "training uses; rescale them in the file (or with the loader's x.scale)")
    return a.astype(np.float32)


def numeric_targets(y, where: str) -> np.ndarray:
    """``y`` unchanged when its entries are numbers; DataFormatError naming ``where`` and an example otherwise
    (text labels: classification needs class ids 0..K-1)."""
    a = np.asarray(y)
    if a.dtype.kind not in "biuf":
        example = repr(a.reshape(-1)[0]) if a.size else "none"
        raise DataFormatError(f"{where}: targets are not numbers (dtype {a.dtype}, e.g. {example}); store class "
                              "ids 0..K-1 for classification, numbers for regression (map text labels first)")
    return a
