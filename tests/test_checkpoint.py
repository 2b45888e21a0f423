"""orca.training.checkpoint: epoch-end saves at most every ``every_s`` seconds, forced saves, the interval's sources."""

from orca.training.checkpoint import DEFAULT_EVERY_S, Checkpointer


def test_save_if_due_waits_for_the_interval_unless_forced(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("orca.training.checkpoint.time.monotonic", lambda: clock[0])
    ckpt = Checkpointer(tmp_path, "job", every_s=60)
    made = []

    def state():
        made.append(clock[0])
        return {"epoch": len(made)}

    clock[0] = 130.0
    assert not ckpt.save_if_due(state) and not ckpt.path.exists() and made == []  # nothing built either
    assert ckpt.save_if_due(state, force=True) and ckpt.load() == {"epoch": 1}
    clock[0] = 189.0
    assert not ckpt.save_if_due(state)  # 59 s after the forced save
    clock[0] = 190.0
    assert ckpt.save_if_due(state) and ckpt.load() == {"epoch": 2}


def test_every_epoch_with_zero_and_nothing_without_a_folder(tmp_path):
    ckpt = Checkpointer(tmp_path, "job", every_s=0)
    assert ckpt.save_if_due(lambda: {"a": 1}) and ckpt.save_if_due(lambda: {"a": 2}) and ckpt.load() == {"a": 2}
    assert not Checkpointer(None, "job").save_if_due(lambda: {"a": 1}, force=True)


def test_default_interval_is_not_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ORCA_CHECKPOINT_EVERY_S", "0")  # no longer a variable: the cadence is a flag / config key
    assert Checkpointer("d", "job").every_s == DEFAULT_EVERY_S


def test_a_slow_write_stretches_the_cadence_to_its_share_of_wall_time(tmp_path, monkeypatch):
    """A state whose write takes 10 s (a full-size body with Adam state on a slow disk) is saved at most every
    10 / MAX_WRITE_SHARE seconds, not every 60 s; an explicit every-epoch cadence (0) is honoured as asked."""
    from orca.training import checkpoint

    clock = [0.0]
    monkeypatch.setattr("orca.training.checkpoint.time.monotonic", lambda: clock[0])

    def slow_save(state, path):
        clock[0] += 10.0  # the write itself
        path.write_bytes(b"x")

    monkeypatch.setattr(checkpoint, "atomic_torch_save", slow_save)
    ckpt = Checkpointer(tmp_path, "job", every_s=60)
    clock[0] = 60.0
    assert ckpt.save_if_due(dict) and ckpt.last_write_s == 10.0
    assert ckpt.interval_s == 10.0 / checkpoint.MAX_WRITE_SHARE == 200.0
    clock[0] += 199.0
    assert not ckpt.save_if_due(dict)
    clock[0] += 1.0
    assert ckpt.save_if_due(dict)
    every = Checkpointer(tmp_path, "job0", every_s=0)
    assert every.save_if_due(dict) and every.save_if_due(dict) and every.interval_s == 0.0
