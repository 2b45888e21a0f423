"""Data layer: loaders keyed by on-disk format, registered by name.

``load_task_data(loader, args, seed, data_dir)`` returns a :class:`TaskData`
split (cached under ``data_dir/prepared``); ``fetch`` makes raw data local; ``run_prepare`` runs a
task file's ``prepare:`` step (raw archives -> the files its loader reads).
"""

from .core import (
    FETCHERS,
    LOADERS,
    DataFormatError,
    DataUnavailableError,
    TaskData,
    fetch,
    load_task_data,
    prepared_path,
    register_loader,
)
from .loaders import images, npz, openml_tabular, ucr  # noqa: F401  (register loaders)
from .loaders import arrays, hdf5_pde  # noqa: F401  (register loaders: generic array containers, PDEBench HDF5)
from .preparation import drug_response, fsd50k_raw, nb360_raw  # noqa: F401  (register preparation steps)
from .preparation.prepare import PREPARERS, check_prepare, run_prepare

__all__ = [
    "FETCHERS",
    "LOADERS",
    "PREPARERS",
    "DataFormatError",
    "DataUnavailableError",
    "TaskData",
    "check_prepare",
    "fetch",
    "load_task_data",
    "prepared_path",
    "register_loader",
    "run_prepare",
]
