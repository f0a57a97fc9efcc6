"""torch -> ONNX with the platform's limits asserted after every export (rules A1, A2, A5).

The legacy TorchScript exporter is used on purpose: it honours opsets 11..18 exactly and writes
IR <= 8 in one file, while the dynamo exporter floors at opset 18, writes IR 10 (refused by
onnxruntime 1.17, the Nx reference runtime), splits weights into a side file and stamps absolute
build paths into node metadata.
"""

from __future__ import annotations

import contextlib
import io
import warnings


from nxport.conventions.limits import IR_VERSION_MAX as MAX_IR_VERSION
from nxport.exporters.config import MAX_OPSET
from nxport.core.errors import EagerForwardError, ExportError

FUSED_ATTENTION_MIN_OPSET = 14  # scaled_dot_product_attention has no symbolic below 14


def disable_fused_attention(module) -> int:
    """Per-instance switch to eager attention (timm `fused_attn`), no global side effects."""
    count = 0
    for sub in module.modules():
        if getattr(sub, "fused_attn", False) is True:
            sub.fused_attn = False
            count += 1
    return count


@contextlib.contextmanager
def eager_multihead_attention():
    """nn.MultiheadAttention's inference fast path (aten::_native_multi_head_attention, used by
    open_clip) has no ONNX symbolic; switch it off for the export only and restore the setting."""
    import torch

    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


def export_module(module, example: "torch.Tensor", input_name: str, output_names: list[str], opset: int,  # noqa: F821
                  reference_outputs: list | None = None):
    """Export a module with one static input; returns a validated ModelProto. reference_outputs: the
    module's outputs for one input (exporters.verification.torch_reference), to pin the output shapes
    without another forward pass."""
    import onnx
    import torch

    if opset < FUSED_ATTENTION_MIN_OPSET:
        disable_fused_attention(module)
    if reference_outputs is None:
        reference_outputs = eager_outputs(module, example)
    buffer = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings(), eager_multihead_attention():
            warnings.simplefilter("ignore")  # TorchScript tracer chatter; failures still raise
            torch.onnx.export(
                module, (example,), buffer, dynamo=False, opset_version=opset,
                input_names=[input_name], output_names=output_names,
                do_constant_folding=True, dynamic_axes=None,
            )
    except Exception as exc:
        raise ExportError(
            f"torch.onnx.export failed at opset {opset}: {type(exc).__name__}: {str(exc)[:500]}",
            fix=f"try another --opset (allowed up to {MAX_OPSET}); attention models need >= 14 "
            "unless their attention can run eagerly",
        ) from exc
    model = onnx.load_from_string(buffer.getvalue())
    assert_platform_limits(model, opset)
    pin_output_shapes(model, reference_outputs)
    return make_reproducible(model)


def eager_outputs(module, example) -> list:
    """One eager forward before the export: a model that cannot run in PyTorch fails here with its own
    error, not later as a torch.onnx.export failure that would wrongly suggest another opset."""
    import torch

    try:
        with torch.no_grad():
            outputs = module(example)
    except Exception as exc:
        raise EagerForwardError(
            f"the model fails in eager PyTorch on a {tuple(example.shape)} input, before any ONNX export: "
            f"{type(exc).__name__}: {str(exc)[:400]}",
            fix="no --opset can fix this: make the model run in PyTorch at this input size (check --input-size "
            "against the model's config), or report the model") from exc
    return [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)


def pin_output_shapes(model, outputs) -> None:
    """Write the observed output shapes into the graph: the input is static, so the outputs are too,
    but the TorchScript exporter sometimes leaves a symbolic batch dim after reshapes (rules D2/D5)."""
    for value, tensor in zip(model.graph.output, outputs):
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for size in tensor.shape:
            dims.add().dim_value = int(size)


def assert_platform_limits(model, opset: int) -> None:
    got_opset = default_opset(model)
    if got_opset != opset:
        raise ExportError(f"asked for opset {opset}, the exporter wrote {got_opset}",
                          fix="report this torch version; pin torch==2.14.1")
    if model.ir_version > MAX_IR_VERSION:
        raise ExportError(f"IR version {model.ir_version} > {MAX_IR_VERSION} (rule A2)",
                          fix="pin torch==2.14.1 and onnx==1.23.2")
    external = [t.name for t in model.graph.initializer if t.data_location == 1]
    if external:
        raise ExportError(f"{len(external)} tensors were written as external data (rule A5)",
                          fix="keep the model under 2 GB")


def default_opset(model) -> int | None:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def make_reproducible(model):
    """Drop what varies between machines or runs: node doc strings (stack traces with paths)."""
    for node in model.graph.node:
        node.doc_string = ""
    model.producer_name = "nxport"
    from nxport.core import __version__

    model.producer_version = __version__
    return model


def simplify(model):
    """onnxsim. The result is proven on real inputs by the export's one verification pass (parity of the
    simplified graph with PyTorch, exporters.verification), not by running both graphs here."""
    import onnxsim

    try:
        simplified, ok = onnxsim.simplify(model)
    except Exception as exc:
        raise ExportError(f"onnxsim failed: {type(exc).__name__}: {str(exc)[:300]}",
                          fix="pass --no-simplify to keep the unsimplified graph") from exc
    if not ok:
        raise ExportError("onnxsim could not validate its simplified graph", fix="pass --no-simplify")
    return make_reproducible(simplified), {"nodes_before": len(model.graph.node),
                                           "nodes_after": len(simplified.graph.node)}
