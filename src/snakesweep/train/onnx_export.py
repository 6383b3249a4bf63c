"""Export a trained model to one self-contained ONNX file and prove it computes the same thing.

The file is the run's deliverable, so it is checked before anyone sees it: the ONNX checker
(full_check), then onnxruntime against PyTorch on the whole test split: the largest logit
difference and the test accuracy of each are recorded. Equal weights give equal bytes.

Why the exporter is not always called through `torch.onnx.export`: profiling the first export in
a process (cProfile, torch 2.14 / onnxscript 0.7) showed ~3.3 s of a 5.9 s call was one-time
lazy imports (torch.export/_dynamo ~2 s, onnxscript's torchlib ~0.7 s) and ~0.8-1.7 s was
`ONNXRegistry.from_torchlib()`, which `torch.onnx.export` rebuilds on *every* call: it re-parses
the source of ~500 torchlib functions (onnxscript's `function_ir` property is not cached) just
to read their domain. The registry does not depend on the model, so it is built once per
process here and handed to the exporter core; a warm export drops from ~0.9 s to ~0.4 s. That
path passes exactly what `torch.onnx.export` passes (opset 20, axis renaming), a test checks
the bytes are identical to the public API's, and if the private API moves we fall back to it.
The import cost is per process: a sweep agent running several runs pays it once.

What is left of a warm export (~0.5 s) is torch.export tracing and decomposing the graph,
which depends only on the architecture, not on the weights. So the exported graph is kept per
architecture and a later model with the same one gets its weights written into that graph's
initializers (a few ms). The bytes are the same as a fresh export's (tested against the public
API), and `verify_onnx` compares every file with PyTorch on the whole test split anyway.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snakesweep.atomic import atomic_write

log = logging.getLogger("snakesweep.onnx")

INPUT_NAME = "images"
OUTPUT_NAME = "logits"
OPSET = 20  # what torch.onnx.export(dynamo=True) targets by default in torch 2.14
MAX_ABS_DIFF = 1e-4


class OnnxVerificationError(RuntimeError):
    """The exported file does not compute what the PyTorch model computes."""


def export_onnx(model: nn.Module, path: str | Path) -> dict:
    """Write `model` to `path` atomically; returns {"sha256", "opset", "bytes"}.

    The model is copied to the CPU in eval mode with contiguous weights first, so the file does
    not depend on the training device or memory format.
    """
    cpu_model = copy.deepcopy(model).cpu().to(memory_format=torch.contiguous_format).eval()
    data = _export_bytes(cpu_model)
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "opset": OPSET, "bytes": len(data)}


def export_onnx_public(model: nn.Module, path: str | Path) -> None:
    """The same export through the public `torch.onnx.export` only (slower; used by tests to
    check the fast path stays byte-identical)."""
    cpu_model = copy.deepcopy(model).cpu().to(memory_format=torch.contiguous_format).eval()
    program = torch.onnx.export(
        cpu_model,
        (torch.zeros(2, 1, 28, 28),),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamo=True,
        external_data=False,
        opset_version=OPSET,
        dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch")}},
        verbose=False,
    )
    with atomic_write(path, "wb") as handle:
        handle.write(_serialise(program))


_programs: dict[str, object] = {}  # architecture -> exported program, reused for new weights


def _export_bytes(model: nn.Module) -> bytes:
    state = {name: tensor.detach().contiguous().numpy() for name, tensor in model.state_dict().items()}
    key = repr(model) + repr([(name, array.shape, array.dtype.str) for name, array in state.items()])
    program = _programs.get(key)
    if program is not None and _set_weights(program, state):
        return _serialise(program)
    example = (torch.zeros(2, 1, 28, 28),)
    program = _export(model, example, {INPUT_NAME: {0: torch.export.Dim("batch")}})
    data = _serialise(program)
    _programs[key] = program
    return data


def _set_weights(program, state: dict[str, np.ndarray]) -> bool:
    """Write `state` into the program's parameter initializers; False if they do not line up."""
    try:
        import onnx_ir as ir
    except ImportError:
        return False
    initializers = program.model.graph.initializers
    weights = {
        name: value
        for name, value in initializers.items()
        if value.metadata_props.get("pkg.torch.export.graph_signature.InputSpec.kind") in ("PARAMETER", "BUFFER")
    }
    if set(weights) != set(state) or any(tuple(weights[n].shape) != state[n].shape for n in state):
        return False
    for name, array in state.items():
        weights[name].const_value = ir.tensor(array, name=name)
    return True


@functools.cache
def _cached_registry():
    from torch.onnx._internal.exporter import _registration

    return _registration.ONNXRegistry.from_torchlib(opset_version=OPSET)


def _export(model, example, dynamic_shapes):
    # The optimizer passes log every step at INFO; a run's log should hold the run, not them.
    for name in ("onnxscript", "onnx_ir", "torch.onnx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter, not our problem
        try:
            from torch.onnx._internal.exporter import _core

            registry = _cached_registry()
        except (ImportError, AttributeError, TypeError):
            registry = None
        if registry is not None:
            try:
                program = _core.export(
                    model,
                    example,
                    registry=registry,
                    dynamic_shapes=dynamic_shapes,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    verbose=False,
                    opset_version=OPSET,
                )
                program._rename_dynamic_axes(dynamic_shapes)
                return program
            except TypeError:  # the private signature changed: use the public API
                log.debug("torch.onnx exporter core changed; using torch.onnx.export", exc_info=True)
        return torch.onnx.export(
            model,
            example,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamo=True,
            external_data=False,
            opset_version=OPSET,
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )


# Node metadata the exporter adds for debugging. The stack trace holds the absolute path of the
# source file that defined the model: it would leak the user's directory layout into a shipped
# model and make two checkouts of the same code export different bytes.
_PATH_BEARING_METADATA = ("pkg.torch.onnx.stack_trace",)


def _serialise(program) -> bytes:
    """The file's bytes, all weights inline (external_data=False), via the exporter's own save,
    without path-bearing debug metadata."""
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "model.onnx"
        program.save(target, external_data=False)
        model = onnx.load_from_string(target.read_bytes())
    for nodes in [model.graph.node, *(f.node for f in model.functions)]:
        for node in nodes:
            kept = [p for p in node.metadata_props if p.key not in _PATH_BEARING_METADATA]
            if len(kept) != len(node.metadata_props):
                del node.metadata_props[:]
                node.metadata_props.extend(kept)
    return model.SerializeToString()


def verify_onnx(
    path: str | Path,
    model: nn.Module,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    threads: int | None = None,
    batch: int = 1000,
) -> dict:
    """Check the file and compare onnxruntime with PyTorch on the whole test split.

    Returns {"max_abs_diff", "test_accuracy", "torch_test_accuracy", "opset"}; raises
    OnnxVerificationError when the logits differ by more than MAX_ABS_DIFF.
    """
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path), full_check=True)
    opset = next(o.version for o in onnx.load(str(path), load_external_data=False).opset_import if o.domain in ("", "ai.onnx"))

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    cpu_model = copy.deepcopy(model).cpu().eval()
    x = x_test.detach().cpu().float()
    y = y_test.detach().cpu().numpy()
    max_diff = 0.0
    ort_correct = torch_correct = 0
    with torch.inference_mode():
        for start in range(0, len(x), batch):
            xb = x[start : start + batch]
            expected = cpu_model(xb).numpy()
            got = session.run([OUTPUT_NAME], {INPUT_NAME: xb.contiguous().numpy()})[0]
            max_diff = max(max_diff, float(np.max(np.abs(got - expected))))
            ort_correct += int((got.argmax(axis=1) == y[start : start + batch]).sum())
            torch_correct += int((expected.argmax(axis=1) == y[start : start + batch]).sum())
    result = {
        "opset": int(opset),
        "max_abs_diff": max_diff,
        "test_accuracy": ort_correct / len(x),
        "torch_test_accuracy": torch_correct / len(x),
    }
    if not max_diff <= MAX_ABS_DIFF:
        raise OnnxVerificationError(f"onnxruntime logits differ from PyTorch by {max_diff:.3g} > {MAX_ABS_DIFF}")
    return result
