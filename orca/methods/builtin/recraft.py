"""RECRAFT (Tran et al., AISTATS 2026; github.com/khiembk/RECRAFT at abc2a04): an align procedure of its own.

Its align job trains a source head on the frozen body, aligns the embedder's pooled features to the source with a
one-label OTDD (one shuffled draw per epoch), then matches labels by the entropy of the source head's predictions;
refine is ORCA's. orca/stages/recraft_align.py runs it; its settings and their sources (file:line of the released
code) are recraft.yaml beside this file; docs/design/recraft.md and docs/fidelity.md compare it with the code.
"""

from orca.methods import AlignMethod


def run_align(job, io, body=None, log=print):
    """The align job of RECRAFT: embedder.pt and align.json, as every align method writes them."""
    from orca.stages.recraft_align import run_recraft_align

    return run_recraft_align(job, io, body=body, log=log)


METHOD = AlignMethod(
    "recraft",
    "RECRAFT: source head, one-label OTDD feature alignment, entropy label matching (its released code)",
    run_align=run_align,
    paper_method="RECRAFT",
    order=6,
)
