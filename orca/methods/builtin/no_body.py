"""No body (Tan et al., NeurIPS 2024, w/o LLM): embedder and head only."""

from orca.methods import ControlMethod

METHOD = ControlMethod(
    "no-body", "no body: the embedder's tokens go straight to the head (w/o LLM)", body="none", order=4
)
