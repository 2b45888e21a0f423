"""Frozen body (FPT, Lu et al. 2021): the pretrained body's weights stay fixed except its layer norms."""

from orca.methods import ControlMethod

METHOD = ControlMethod(
    "frozen-body",
    "pretrained body frozen except its layer norms; embedder, layer norms and head train (FPT)",
    body="pretrained",
    paper_method="FPT",
    refine={"finetune": "frozen"},
    order=0,
)
