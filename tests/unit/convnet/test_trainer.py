import math

import pytest
import torch

from snakesweep.convnet.model import ConvNet
from snakesweep.convnet.run_config import load_schema, resolve_run_config
from snakesweep.convnet.trainer import Setup, make_optimizer, train
from snakesweep.data.dataset import DataFiles
from snakesweep.errors import UserError

FAST = {"epochs": 1, "batch_size": 64}


def weight_bytes(model):
    return b"".join(
        t.detach().cpu().contiguous().numpy().tobytes() for t in model.state_dict().values()
    )


def test_same_seed_same_weights_and_metrics(tiny):
    a = train(FAST, tiny, Setup(seed=1, threads=2))
    b = train(FAST, tiny, Setup(seed=1, threads=2))
    assert a.state == b.state == "finished"
    assert weight_bytes(a.model) == weight_bytes(b.model)
    assert (a.history, a.metrics) == (b.history, b.metrics)
    c = train(FAST, tiny, Setup(seed=2, threads=2))
    assert weight_bytes(c.model) != weight_bytes(a.model)
    assert c.history != a.history


def test_metrics_are_logged_every_epoch(tiny):
    result = train(
        {"epochs": 2, "batch_size": 128, "dropout": 0.2, "fc_hidden": 16},
        tiny,
        Setup(seed=0, threads=2),
    )
    assert [row["epoch"] for row in result.history] == [1, 2]
    for row in result.history:
        assert set(row) == {"epoch", "train_loss", "val_loss", "val_accuracy"}
        assert math.isfinite(row["train_loss"]) and 0 <= row["val_accuracy"] <= 1
    assert set(result.metrics) >= {"test_loss", "test_accuracy"}
    assert result.metrics["steps"] == 2 * 4
    assert set(result.timing) == {"train_seconds", "eval_seconds", "samples_per_second"}
    assert result.timing["samples_per_second"] > 0


OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}


def test_every_optimizer_of_the_schema_is_the_one_asked_for():
    """Each name the run schema allows builds that torch optimizer with the run's settings (a
    broken branch used to fall through to RMSprop unnoticed)."""
    assert set(load_schema()["properties"]["optimizer"]["enum"]) == set(OPTIMIZERS)
    for name, cls in OPTIMIZERS.items():
        config = resolve_run_config(
            {"optimizer": name, "learning_rate": 0.02, "momentum": 0.5, "weight_decay": 0.01}
        )
        optimizer = make_optimizer(ConvNet(), config)
        assert type(optimizer) is cls, name
        assert (optimizer.defaults["lr"], optimizer.defaults["weight_decay"]) == (0.02, 0.01)
        assert optimizer.defaults.get("momentum", 0.5) == 0.5  # Adam has none


def test_an_optimizer_without_a_branch_is_an_error():
    with pytest.raises(ValueError, match="no branch for the run schema's optimizer 'adamw'"):
        make_optimizer(ConvNet(), {**resolve_run_config({}), "optimizer": "adamw"})


def test_sgd_and_rmsprop_train_differently(tiny):
    results = {
        name: train(
            {**FAST, "optimizer": name, "momentum": 0.5, "learning_rate": 0.01},
            tiny,
            Setup(seed=0, threads=2),
        )
        for name in ("sgd", "rmsprop")
    }
    assert {r.state for r in results.values()} == {"finished"}
    assert weight_bytes(results["sgd"].model) != weight_bytes(results["rmsprop"].model)


def test_diverging_loss_fails_the_run_cleanly(tiny):
    result = train(
        {"epochs": 3, "optimizer": "sgd", "learning_rate": 1e12}, tiny, Setup(seed=0, threads=2)
    )
    assert result.state == "failed"
    assert result.reason.startswith("loss became ")
    assert result.reason.split()[2] in ("nan", "inf")
    assert " at epoch 1 step " in result.reason
    assert result.history == [] and "test_accuracy" not in result.metrics


def test_on_epoch_can_stop_the_run(tiny):
    seen = []

    def on_epoch(epoch, metrics):
        seen.append((epoch, sorted(metrics)))
        return epoch == 2

    result = train({"epochs": 4, "batch_size": 128}, tiny, Setup(seed=0, threads=2), on_epoch)
    assert (
        result.state == "stopped"
        and result.reason == "stopped early after epoch 2 (the sweep's early termination)"
    )
    assert [e for e, _ in seen] == [1, 2]
    assert seen[0][1] == ["epoch", "train_loss", "val_accuracy", "val_loss"]
    assert len(result.history) == 2 and "test_accuracy" in result.metrics


def test_trainer_trains_on_the_dataset_its_files_hold(tiny_npz, tiny):
    loaded = DataFiles(str(tiny_npz)).load()
    a = train(FAST, loaded, Setup(seed=0, threads=1))
    b = train(FAST, tiny, Setup(seed=0, threads=1))
    assert a.state == "finished" and weight_bytes(a.model) == weight_bytes(b.model)


def test_invalid_config_is_a_user_error(tiny):
    with pytest.raises(UserError, match="optimizer"):
        train({"optimizer": "adamw"}, tiny, Setup(seed=0))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_user_error(tiny):
    with pytest.raises(UserError, match="no CUDA GPU"):
        train(FAST, tiny, Setup(seed=0, device="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_is_reproducible(tiny):
    a = train(FAST, tiny, Setup(seed=1, device="cuda"))
    b = train(FAST, tiny, Setup(seed=1, device="cuda"))
    assert weight_bytes(a.model) == weight_bytes(b.model) and a.history == b.history
