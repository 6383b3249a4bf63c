"""A ConvNet run interrupted after an epoch resumes from its checkpoint and ends bit for bit as
an undisturbed run: weights, every epoch's row, the test metrics and the step count; the
epochs before the interruption are reported again, so the record holds the whole history."""

import pytest
from test_trainer import weight_bytes

from snakesweep import stopping
from snakesweep.convnet.trainer import Setup, train

CONFIG = {"epochs": 3, "batch_size": 64, "dropout": 0.3, "optimizer": "adam"}


def test_a_run_resumed_from_its_checkpoint_equals_an_undisturbed_one(tiny, tmp_path):
    whole = train(CONFIG, tiny, Setup(seed=4, threads=1, checkpoint=str(tmp_path / "a.pt")))

    saved = tmp_path / "b.pt"

    def interrupt_after_two(epoch, row):
        if epoch == 2:
            raise stopping.Interrupted(15)
        return False

    with pytest.raises(stopping.Interrupted):
        train(CONFIG, tiny, Setup(seed=4, threads=1, checkpoint=str(saved)), interrupt_after_two)
    assert saved.exists()
    reported = []
    resumed = train(
        CONFIG,
        tiny,
        Setup(seed=4, threads=1, checkpoint=str(saved)),
        lambda epoch, row: reported.append(epoch) or False,
    )
    assert reported == [1, 2, 3]
    assert weight_bytes(resumed.model) == weight_bytes(whole.model)
    assert (resumed.history, resumed.metrics) == (whole.history, whole.metrics)
