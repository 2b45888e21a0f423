"""One attention layer instead of the body (Tan et al., NeurIPS 2024, LLM2Attn): orca/model/replacement_bodies.py."""

from orca.methods import ControlMethod

METHOD = ControlMethod(
    "attention1-body",
    "the body replaced by one randomly initialised multi-head self-attention layer of its width (LLM2Attn)",
    body="attention1",
    order=3,
)
