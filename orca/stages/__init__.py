"""The stages a workflow job runs: align (embedder only), refine (whole network), baselines (classical models)."""
