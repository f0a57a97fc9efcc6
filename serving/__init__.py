"""HTTP serving for Nx artifacts: the image equivalent of text-embeddings-inference.

    python -m nxport.serving build/efficientnet_lite0.onnx build/lite0_embedding.onnx --port 8080

    from nxport.serving import Settings, create_app, load_models
    app = create_app(load_models(["build/lite0.onnx"], Settings()), Settings())

Heavy imports (fastapi, onnxruntime) happen on first use of `create_app` / `load_models`.
"""

from nxport.serving.settings import BatchingMode, Settings, resolve_settings

__all__ = ["BatchingMode", "Settings", "create_app", "load_model", "load_models", "resolve_settings"]


def __getattr__(name: str):
    if name == "create_app":
        from nxport.serving.app import create_app

        return create_app
    if name in ("load_model", "load_models"):
        from nxport.serving import models

        return getattr(models, name)
    raise AttributeError(f"module 'serving' has no attribute {name!r}")
