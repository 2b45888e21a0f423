"""Random body (Garcia-de-Herreros et al., NAACL 2024): the same architecture with random weights, drawn from the seed."""

from orca.methods import ControlMethod

METHOD = ControlMethod(
    "random-body",
    "randomly initialised body of the same architecture; everything trains (no pretraining)",
    body="random",
    order=2,
)
