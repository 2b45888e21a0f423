"""LoRA (Hu et al. 2022, through peft): the pretrained body frozen, low-rank adapters on its attention projections train
(settings: the task's refine.lora: rank, alpha, dropout, target modules)."""

from orca.methods import ControlMethod

METHOD = ControlMethod(
    "lora",
    "pretrained body frozen with LoRA adapters on its attention projections (peft); adapters, embedder and head train",
    body="pretrained",
    refine={"finetune": "lora"},
    order=1,
)
