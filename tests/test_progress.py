"""Progress lines (orca/training/progress.py): job, epoch, and time left from the mean epoch time."""
import pytest

from orca.training.progress import epoch_line, format_seconds, reset, start_clock


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture(autouse=True)
def fresh():
    reset()
    yield
    reset()


def test_time_left_is_the_mean_epoch_time_times_the_epochs_left():
    clock = Clock()
    assert epoch_line("refine iris", 1, 5, "loss 1", clock=clock) == \
        "[refine iris] epoch 1/5 loss 1 | time left after the next epoch"
    clock.t += 4.0
    clock_line = epoch_line("refine iris", 2, 5, clock=clock, wall=lambda: 0.0)
    assert clock_line.startswith("[refine iris] epoch 2/5 | 4 s/epoch, 12 s left, done ~")
    clock.t += 8.0  # a slower epoch: mean of 4 and 8 = 6 s
    assert "6 s/epoch, 12 s left" in epoch_line("refine iris", 3, 5, clock=clock)
    clock.t += 6.0
    assert epoch_line("refine iris", 5, 5, clock=clock).endswith("| done")


def test_jobs_are_timed_apart_and_a_restart_restarts_the_clock():
    clock = Clock()
    epoch_line("align a", 1, 3, clock=clock)
    clock.t += 100.0
    assert "time left after the next epoch" in epoch_line("align b", 1, 3, clock=clock)
    assert "100 s/epoch" in epoch_line("align a", 2, 3, clock=clock)
    clock.t += 1.0
    assert "time left after the next epoch" in epoch_line("align a", 1, 3, clock=clock)  # started over


@pytest.mark.parametrize("s,text", [(5, "5 s"), (65, "1 min 05 s"), (7320, "2 h 02 min"), (-3, "0 s")])
def test_format_seconds(s, text):
    assert format_seconds(s) == text


def test_a_started_clock_gives_the_first_epoch_an_estimate_and_counts_resumed_epochs():
    clock = Clock()
    start_clock("refine x", done=2, clock=clock)  # resumed after 2 of 6 epochs
    clock.t += 3.0
    assert "3 s/epoch, 9 s left" in epoch_line("refine x", 3, 6, clock=clock)
