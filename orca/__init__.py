"""orca-bench: align-then-refine cross-modal fine-tuning (ORCA, ICML 2023) as a reproducible harness."""

__version__ = "0.1.0"
