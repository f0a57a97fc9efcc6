"""One way to open an onnxruntime CPU session, shared by the exporters, checker, calibration,
serving and benchmarks, so thread and logging settings cannot drift between them."""

from __future__ import annotations

from pathlib import Path


def cpu_session(model: bytes | str | Path, *, threads: int | None = None, optimized: bool = True,
                spinning: bool = True):
    """threads: intra-op threads (None = onnxruntime's default); optimized=False runs the graph as
    written (exact QDQ arithmetic instead of fused integer kernels); spinning=False stops idle workers
    from burning a core that another job (decoding, a timed contender) needs."""
    import onnxruntime as ort

    from nxport.core.console import onnxruntime_log_severity, quiet_onnxruntime

    quiet_onnxruntime()
    options = ort.SessionOptions()
    # A failed run already reaches the user as a typed error or a finding; ORT's own coloured
    # `[E:onnxruntime:...]` line about it would only repeat it, raw (shown with -v).
    options.log_severity_level = onnxruntime_log_severity()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if not optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
