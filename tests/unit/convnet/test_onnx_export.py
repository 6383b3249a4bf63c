import hashlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from snakesweep.convnet.model import ConvNet
from snakesweep.convnet.onnx_export import (
    OnnxVerificationError,
    export_onnx,
    export_onnx_public,
    verify_onnx,
)
from snakesweep.convnet.onnx_runtime import onnx_accuracy
from snakesweep.convnet.trainer import Setup, to_tensors, train


@pytest.fixture(scope="module")
def trained(tiny):
    return train(
        {"epochs": 1, "batch_size": 64, "fc_hidden": 16, "dropout": 0.1},
        tiny,
        Setup(seed=3, threads=2),
    )


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return path, export_onnx(trained.model, path)


def test_file_is_self_contained_with_named_dynamic_io(exported):
    path, info = exported
    assert list(path.parent.iterdir()) == [path]  # no external data file next to it
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("images", "logits")
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["opset"] == 20


def test_file_holds_no_path_of_the_checkout(exported):
    """The exporter's stack traces name the source file; a shipped model must not carry the
    user's paths, and two checkouts must export the same bytes."""
    import snakesweep

    path, _ = exported
    data = path.read_bytes()
    package_dir = str(__import__("pathlib").Path(snakesweep.__file__).parent)
    assert package_dir.encode() not in data and b"stack_trace" not in data


def test_dynamic_batch_and_raw_pixel_input(exported, trained, tiny):
    path, _ = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = to_tensors(tiny, torch.device("cpu"))["x_test"]
    for n in (1, 7, 256):
        got = session.run(["logits"], {"images": x[:n].contiguous().numpy()})[0]
        with torch.inference_mode():
            expected = trained.model(x[:n]).numpy()
        assert got.shape == (n, 10)
        assert np.max(np.abs(got - expected)) <= 1e-4


def test_parity_on_the_test_split(exported, trained, tiny):
    path, _ = exported
    result = verify_onnx(path, trained.model, tiny["x_test"][:50], threads=2)
    assert (
        result["max_abs_diff"] <= 1e-4 and result["verified_images"] == 50 and result["opset"] == 20
    )
    assert onnx_accuracy(path, tiny["x_test"], tiny["y_test"]) == trained.metrics["test_accuracy"]


def test_same_weights_same_bytes_and_same_as_public_api(exported, trained, tmp_path):
    path, info = exported
    again = tmp_path / "again.onnx"
    assert export_onnx(trained.model, again)["sha256"] == info["sha256"]
    assert again.read_bytes() == path.read_bytes()
    # The fast path (cached registry) must write exactly what torch.onnx.export writes.
    public = tmp_path / "public.onnx"
    export_onnx_public(trained.model, public)
    assert public.read_bytes() == path.read_bytes()


def test_different_weights_different_bytes(exported, tiny, tmp_path):
    """A second model of the same architecture reuses the exported graph with its own weights:
    the file must still be exactly what a fresh public export writes, and parity must hold."""
    other = train(
        {"epochs": 1, "batch_size": 64, "fc_hidden": 16, "dropout": 0.1},
        tiny,
        Setup(seed=4, threads=2),
    )
    info = export_onnx(other.model, tmp_path / "m.onnx")
    assert info["sha256"] != exported[1]["sha256"]
    export_onnx_public(other.model, tmp_path / "public.onnx")
    assert (tmp_path / "m.onnx").read_bytes() == (tmp_path / "public.onnx").read_bytes()
    result = verify_onnx(tmp_path / "m.onnx", other.model, tiny["x_test"])
    assert result["max_abs_diff"] <= 1e-4
    assert (
        onnx_accuracy(tmp_path / "m.onnx", tiny["x_test"], tiny["y_test"])
        == other.metrics["test_accuracy"]
    )


def test_other_architectures_export_fresh(exported, tmp_path):
    torch.manual_seed(0)
    for model in (ConvNet(kernels=(4, 8)), ConvNet(kernels=(4, 8), fc_hidden=8), ConvNet()):
        model.eval()
        export_onnx(model, tmp_path / "fast.onnx")
        export_onnx_public(model, tmp_path / "public.onnx")
        assert (tmp_path / "fast.onnx").read_bytes() == (tmp_path / "public.onnx").read_bytes()


def test_verification_catches_a_wrong_model(exported, tiny):
    path, _ = exported
    torch.manual_seed(123)
    stranger = train(
        {"epochs": 1, "batch_size": 64, "fc_hidden": 16, "dropout": 0.1},
        tiny,
        Setup(seed=9, threads=2),
    ).model
    with pytest.raises(OnnxVerificationError, match="differ from PyTorch"):
        verify_onnx(path, stranger, tiny["x_test"][:8])


def test_private_export_falls_back_to_the_public_api(trained, tmp_path, monkeypatch):
    """If torch's private exporter core moves, the public API writes the same file."""
    from snakesweep.convnet import onnx_export

    monkeypatch.setattr(onnx_export, "_programs", {})
    monkeypatch.setattr(onnx_export, "_export_private", lambda *args: None)
    export_onnx(trained.model, tmp_path / "fallback.onnx")
    export_onnx_public(trained.model, tmp_path / "public.onnx")
    assert (tmp_path / "fallback.onnx").read_bytes() == (tmp_path / "public.onnx").read_bytes()
