"""Per-task exporters that turn timm / Hugging Face models into Nx-conformant ONNX artifacts.

    from exporters import ClassifierConfig, export_classifier
    result = export_classifier(ClassifierConfig(model="resnet18", weights="resnet18.safetensors"))
"""

from exporters.artifact import ExportResult
from exporters.classification import export_classifier
from exporters.config import Activation, ClassifierConfig, PreprocessingOverrides
from exporters.registry import get_task, list_tasks

__all__ = ["Activation", "ClassifierConfig", "ExportResult", "PreprocessingOverrides", "export_classifier",
           "get_task", "list_tasks"]
