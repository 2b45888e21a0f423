"""The pieces a training loop is made of (no task-file knowledge).

- :mod:`orca.training.losses`: ``make_loss``, ``LOSSES``;
- :mod:`orca.training.optim`: ``make_optimizer``, ``LRSchedule``, ``resolve_schedule``, ``accumulated_backward``;
- :mod:`orca.training.augment`: ``make_augmenter``, ``check_augment``;
- :mod:`orca.training.checkpoint`: ``Checkpointer``, ``StopFlag``, ``Preempted``;
- :mod:`orca.training.progress`: ``epoch_line``, ``start_clock``.
"""
