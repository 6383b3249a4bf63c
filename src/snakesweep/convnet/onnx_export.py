"""Export a trained model to one self-contained ONNX file and prove it computes the same thing.

The file is the run's deliverable, so it is checked before anyone sees it: the ONNX checker
(full_check), then onnxruntime against PyTorch on the first test images (the largest logit
difference is recorded). Equal weights give equal bytes. The onnxruntime loop is
`onnx_runtime.onnx_logits`, shared with the aggregate's scoring of the best model.

Why the exporter is not always called through `torch.onnx.export`: profiling the first export in
a process (cProfile, torch 2.14 / onnxscript 0.7) showed ~3.3 s of a 5.9 s call was one-time
lazy imports (torch.export/_dynamo ~2 s, onnxscript's torchlib ~0.7 s) and ~0.8-1.7 s was
`ONNXRegistry.from_torchlib()`, which `torch.onnx.export` rebuilds on *every* call: it re-parses
the source of ~500 torchlib functions (onnxscript's `function_ir` property is not cached) just
to read their domain. The registry does not depend on the model, so it is built once per
process here and handed to the exporter core; a warm export drops from ~1.2 s to ~0.5 s. That
path passes exactly what `torch.onnx.export` passes (opset 20, axis renaming), a test checks
the bytes are identical to the public API's, and if the private API moves we fall back to it.
The import cost is per process: a sweep agent running several runs pays it once.

What is left of a warm export (~0.5 s) is torch.export tracing and decomposing the graph,
which depends only on the architecture, not on the weights. So the exported graph is kept per
architecture and a later model with the same one gets its weights written into that graph's
initializers (a few ms). The bytes are the same as a fresh export's (tested against the public
API), and `verify_onnx` compares every file's logits with PyTorch's anyway.
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

from snakesweep import paths
from snakesweep.atomic import atomic_write
from snakesweep.convnet.onnx_runtime import INPUT_NAME, OUTPUT_NAME, onnx_logits, ort_session

log = logging.getLogger("snakesweep.onnx")

OPSET = 20  # what torch.onnx.export(dynamo=True) targets by default in torch 2.14
MAX_ABS_DIFF = 1e-4
VERIFY_IMAGES = 64  # test images whose logits each run compares (see verify_onnx)


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
    with atomic_write(path, "wb") as handle:
        handle.write(_serialise(_export_public(cpu_model, *_example())))


def _example():
    """The example input and dynamic batch axis every export uses."""
    return (torch.zeros(2, 1, 28, 28),), {INPUT_NAME: {0: torch.export.Dim("batch")}}


_programs: dict[str, object] = {}  # architecture -> exported program, reused for new weights


def _export_bytes(model: nn.Module) -> bytes:
    state = {
        name: tensor.detach().contiguous().numpy() for name, tensor in model.state_dict().items()
    }
    key = repr(model) + repr(
        [(name, array.shape, array.dtype.str) for name, array in state.items()]
    )
    program = _programs.get(key)
    if program is not None and _set_weights(program, state):
        return _serialise(program)
    program = _export(model, *_example())
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
        if value.metadata_props.get("pkg.torch.export.graph_signature.InputSpec.kind")
        in ("PARAMETER", "BUFFER")
    }
    if set(weights) != set(state) or any(tuple(weights[n].shape) != state[n].shape for n in state):
        return False
    for name, array in state.items():
        weights[name].const_value = ir.tensor(array, name=name)
    return True


def _export(model, example, dynamic_shapes):
    # The optimizer passes log every step at INFO; a run's log should hold the run, not them.
    for name in ("onnxscript", "onnx_ir", "torch.onnx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter, not our problem
        program = _export_private(model, example, dynamic_shapes)
        return program if program is not None else _export_public(model, example, dynamic_shapes)


def _export_public(model, example, dynamic_shapes):
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


# --- The one use of torch's private exporter API (see the module docstring for why). ---------
# Measured in one warm process (torch 2.14, ConvNet 16/32, 1 thread, median of 5): this path
# 0.52 s, torch.onnx.export 1.24 s, a later model of the same architecture (weights only)
# 0.004 s. It must return what torch.onnx.export would (test_onnx_export checks the bytes),
# and None whenever the private API is not what it was, so the caller uses the public one.


@functools.cache
def _cached_registry():
    from torch.onnx._internal.exporter import _registration

    return _registration.ONNXRegistry.from_torchlib(opset_version=OPSET)


def _export_private(model, example, dynamic_shapes):
    try:
        from torch.onnx._internal.exporter import _core

        program = _core.export(
            model,
            example,
            registry=_cached_registry(),
            dynamic_shapes=dynamic_shapes,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            verbose=False,
            opset_version=OPSET,
        )
        program._rename_dynamic_axes(dynamic_shapes)
        return program
    except (ImportError, AttributeError, TypeError):  # the private API moved or changed
        log.debug("torch.onnx exporter core changed; using torch.onnx.export", exc_info=True)
        return None


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
        target = Path(tmp) / paths.ONNX_FILE
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
    path: str | Path, model: nn.Module, images: np.ndarray, threads: int | None = 1
) -> dict:
    """Check the file (ONNX checker, full_check) and compare its logits with PyTorch's.

    `images` are uint8 (N, 28, 28); a run passes its first VERIFY_IMAGES test images. A wrong
    graph or weight changes the logits of nearly every image, so 64 images (640 logits) catch
    it; the whole test split costs ~0.1 s per 1,000 images on one core, every run. onnxruntime's
    accuracy on the whole split is measured once, for the best model, by the aggregate.
    Returns {"opset", "max_abs_diff", "verified_images"}; raises OnnxVerificationError above
    MAX_ABS_DIFF.
    """
    import onnx

    onnx.checker.check_model(str(path), full_check=True)
    opset = next(
        o.version
        for o in onnx.load(str(path), load_external_data=False).opset_import
        if o.domain in ("", "ai.onnx")
    )
    got = onnx_logits(ort_session(path, threads), images)
    cpu_model = copy.deepcopy(model).cpu().eval()
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1).float().div_(255.0)
        expected = cpu_model(x).numpy()
    max_diff = float(np.max(np.abs(got - expected))) if len(images) else 0.0
    if not max_diff <= MAX_ABS_DIFF:
        raise OnnxVerificationError(
            f"onnxruntime logits differ from PyTorch by {max_diff:.3g} > {MAX_ABS_DIFF}"
        )
    return {"opset": int(opset), "max_abs_diff": max_diff, "verified_images": int(len(images))}
