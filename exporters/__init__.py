"""Per-task exporters that turn timm / Hugging Face / open_clip models into Nx-conformant ONNX artifacts.

    from exporters import ClassifierConfig, export_classifier
    result = export_classifier(ClassifierConfig(model="resnet18", weights="resnet18.safetensors"))

Names resolve lazily: `import exporters.config` (the CLI's option tables) must not load torch.
"""

import importlib

_PUBLIC = {
    "Activation": "exporters.config", "ClassifierConfig": "exporters.config", "Pool": "exporters.config",
    "PreprocessingOverrides": "exporters.config", "ExportResult": "exporters.artifact",
    "export_classifier": "exporters.classification", "EmbeddingConfig": "exporters.embedding",
    "export_embedding": "exporters.embedding", "ClipConfig": "exporters.clip", "export_clip": "exporters.clip",
    "PresetOverrides": "exporters.preconfigured", "export_preconfigured": "exporters.preconfigured",
    "get_model_spec": "exporters.preconfigured", "list_models": "exporters.preconfigured",
    "DetectionConfig": "exporters.detection_config", "export_detection": "exporters.detection",
    "get_task": "exporters.registry", "list_tasks": "exporters.registry",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'exporters' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
