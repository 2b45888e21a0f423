"""Methods: one file each, registered by name (orca/methods/registry.py says how to write one).

``from orca.methods import AlignMethod, ControlMethod`` in a method file; the grid, the stages and the report
look methods up with :func:`get_method`.
"""
from .base import BODIES, AlignMethod, ControlMethod, Method, MethodError, distance_aligner
from .registry import (all_methods, get_method, load_method_file, method_setting, methods_of_kind,
                       register_method_dirs, register_method_setting, resolve_settings)

__all__ = ["BODIES", "AlignMethod", "ControlMethod", "Method", "MethodError", "all_methods", "distance_aligner", "get_method",
           "load_method_file", "method_setting", "methods_of_kind", "register_method_dirs", "register_method_setting",
           "resolve_settings"]
