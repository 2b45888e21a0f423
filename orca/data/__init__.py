"""Data layer: loaders keyed by on-disk format, registered by name.

``load_task_data(loader, args, seed, data_dir)`` returns a :class:`TaskData`
split (cached under ``data_dir/prepared``); ``fetch`` makes raw data local.
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
from . import images, npz, openml_tabular, ucr  # noqa: F401  (register loaders)
from . import arrays, hdf5_pde  # noqa: F401  (register loaders: generic array containers, PDEBench HDF5)

__all__ = [
    "FETCHERS",
    "LOADERS",
    "DataFormatError",
    "DataUnavailableError",
    "TaskData",
    "fetch",
    "load_task_data",
    "prepared_path",
    "register_loader",
]
