"""Per-task exporters that turn timm / Hugging Face / open_clip models into Nx-conformant ONNX artifacts.

    from nxport.exporters import ClassifierConfig, export_classifier
    result = export_classifier(ClassifierConfig(model="resnet18", weights="resnet18.safetensors"))

Names resolve lazily: `import nxport.exporters.config` (the CLI's option tables) must not load torch.
"""

import importlib

_PUBLIC = {
    "Activation": "nxport.exporters.config", "ClassifierConfig": "nxport.exporters.config", "Pool": "nxport.exporters.config",
    "PreprocessingOverrides": "nxport.exporters.config", "ExportResult": "nxport.exporters.artifact",
    "export_classifier": "nxport.exporters.classification", "EmbeddingConfig": "nxport.exporters.embedding",
    "export_embedding": "nxport.exporters.embedding", "ClipConfig": "nxport.exporters.clip", "export_clip": "nxport.exporters.clip",
    "PresetOverrides": "nxport.exporters.preconfigured", "export_preconfigured": "nxport.exporters.preconfigured",
    "get_model_spec": "nxport.exporters.preconfigured", "list_models": "nxport.exporters.preconfigured",
    "DetectionConfig": "nxport.exporters.detection_config", "export_detection": "nxport.exporters.detection",
    "get_task": "nxport.exporters.registry", "list_tasks": "nxport.exporters.registry",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'exporters' has no attribute {name!r}")
    if name.startswith("export_"):  # torch and the model libraries: a typed error on the light install
        from nxport.core.extras import require

        require("export")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
