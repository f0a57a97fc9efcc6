"""Per-task exporters that turn timm / Hugging Face models into Nx-conformant ONNX artifacts.

    from exporters import ClassifierConfig, export_classifier
    result = export_classifier(ClassifierConfig(model="resnet18", weights="resnet18.safetensors"))
"""

from exporters.artifact import ExportResult
from exporters.classification import export_classifier
from exporters.config import Activation, ClassifierConfig, PreprocessingOverrides
from exporters.embedding import EmbeddingConfig, export_embedding
from exporters.pooling import Pool
from exporters.preconfigured import PresetOverrides, export_preconfigured, get_model_spec, list_models
from exporters.registry import get_task, list_tasks

__all__ = ["Activation", "ClassifierConfig", "EmbeddingConfig", "ExportResult", "Pool", "PreprocessingOverrides",
           "PresetOverrides", "export_classifier", "export_embedding", "export_preconfigured", "get_model_spec",
           "get_task", "list_models", "list_tasks"]
