"""Run one model in the Nx reference onnxruntime (1.17), from its own interpreter.

Standalone on purpose: the reference environment holds only onnxruntime 1.17 and numpy < 2, which
cannot live beside the project's own versions. Usage: python _reference_probe.py MODEL IN.npz OUT.npz
Prints one JSON line; exits 0 even when the model fails (the failure is the finding).
"""

import json
import os
import sys

# core.console's verbosity, inherited through the environment (this interpreter cannot import core):
# below -v, onnxruntime logs nothing; the failure it would log is in this probe's JSON line.
VERBOSE = os.environ.get("NXPORT_VERBOSITY", "1") == "2"


def main(model_path: str, inputs_path: str, outputs_path: str) -> None:
    import numpy as np
    import onnxruntime as ort

    severity = 2 if VERBOSE else 4
    ort.set_default_logger_severity(severity)
    result = {"onnxruntime": ort.__version__, "numpy": np.__version__}
    try:
        options = ort.SessionOptions()
        options.log_severity_level = severity
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        result.update(ok=False, stage="load", error=f"{type(exc).__name__}: {str(exc).strip()[:500]}")
        print(json.dumps(result))
        return
    feeds = dict(np.load(inputs_path))
    try:
        names = [o.name for o in session.get_outputs()]
        outputs = session.run(None, feeds)
    except Exception as exc:
        result.update(ok=False, stage="run", error=f"{type(exc).__name__}: {str(exc).strip()[:500]}")
        print(json.dumps(result))
        return
    np.savez(outputs_path, **{f"output_{i}": value for i, value in enumerate(outputs)})
    result.update(ok=True, outputs=names)
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
