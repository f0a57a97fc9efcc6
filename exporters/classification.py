"""Classifier export: timm model + Softmax/Sigmoid -> `image-` in, `scores-<id>:<name>;...` out."""

from __future__ import annotations

from dataclasses import dataclass

from nxport.exporters.artifact import ExportResult
from nxport.exporters.config import (
    ClassifierConfig,
    Preprocessing,
    preprocessing_from_pretrained_cfg,
    resolve_preprocessing,
)
from nxport.exporters.early_checks import check_timm_inputs
from nxport.exporters.heads import ProbabilityHead
from nxport.exporters.labels import resolve_labels
from nxport.exporters.parity import classifier_parity, nx_feeds, parity_photos
from nxport.exporters.pipeline import Built, ExportContext, ExportTask, Graph, run_export
from nxport.exporters.random_init import recalibrate_batchnorm
from nxport.exporters.registry import register_task
from nxport.exporters.reparam import reparameterize_for_export
from nxport.exporters.timm_source import LoadedModel, load_timm_model
from nxport.exporters.verification import export_verified
from nxport.conventions.kinds.alarm import attach_alarm_head
from nxport.conventions.kinds.scores import format_name as format_scores_name
from nxport.conventions.normalization import Normalization

INPUT_NAME = "image-"  # rule B2


def input_shape(pre: Preprocessing) -> tuple[int, int, int, int]:
    channels = 1 if len(pre.mean) == 1 else 3
    return (1, channels, *pre.input_size)


def resolve_model_preprocessing(loaded: LoadedModel, config) -> Preprocessing:
    return resolve_preprocessing(
        ("explicit", config.preprocessing),
        ("weights-config", loaded.local_cfg),
        ("registry", config.registry_preprocessing),
        ("model-config", preprocessing_from_pretrained_cfg(loaded.pretrained_cfg)),
    )


def timm_source_info(loaded: LoadedModel) -> dict:
    import timm

    return {"library": "timm", "model": loaded.name, "timm": timm.__version__}


def provenance_of(task: str, source: dict, weights: dict, pre: Preprocessing, opset: int) -> dict:
    """The JSON every artifact carries in metadata_props: where it came from and how to feed it."""
    import onnx
    import torch

    from nxport.core import __version__

    norm = Normalization.from_unit_scale(pre.mean, pre.std)
    return {
        "task": task,
        "tool": f"nxport {__version__}",
        "source": source,
        "weights": weights,
        "preprocessing": {**pre.to_dict(), "means_0_255": list(norm.means), "vars_0_255": list(norm.vars),
                          "device_resize": "stretch to input size (Nx), no crop"},
        "opset": opset,
        "versions": {"torch": torch.__version__.split("+")[0], "onnx": onnx.__version__},
    }


@dataclass
class ClassifierSource:
    """What the load stage found: the timm model, its preprocessing, its class names, the parity photos."""

    loaded: LoadedModel
    pre: Preprocessing
    labels: list[str]
    labels_source: str
    photos: list


class ClassificationTask(ExportTask):
    def load(self, ctx: ExportContext) -> ClassifierSource:
        config = self.config
        loaded = load_timm_model(config.model, weights=config.weights, pretrained=config.pretrained,
                                 random_init=config.random_init, num_classes=config.num_classes,
                                 ema=config.ema, **(config.architecture or {}))
        pre = resolve_model_preprocessing(loaded, config)
        labels, labels_source = resolve_labels(config.labels, loaded.num_classes, config.replace_char)
        return ClassifierSource(loaded, pre, labels, labels_source, parity_photos(config.parity_images))

    def build(self, ctx: ExportContext, source: ClassifierSource) -> Built:
        return build_classifier(self.config, ctx, source)


@register_task("classification", ClassifierConfig, "timm classifier + Softmax/Sigmoid -> scores-<id>:<name>")
def export_classifier(config: ClassifierConfig) -> ExportResult:
    check_timm_inputs(config.model, config.weights, config.pretrained, config.random_init)
    return run_export(ClassificationTask(config)).single()


def build_classifier(config: ClassifierConfig, ctx: ExportContext, source: ClassifierSource) -> Built:
    loaded, pre, labels, labels_source, photos = (source.loaded, source.pre, source.labels, source.labels_source,
                                                  source.photos)
    timer, opset = ctx.timer, ctx.opset
    norm = Normalization.from_unit_scale(pre.mean, pre.std)
    module = ProbabilityHead(loaded.module, config.activation).eval()
    shape = input_shape(pre)

    feeds = nx_feeds(photos, INPUT_NAME, shape, norm)
    if loaded.weights.get("source") == "random-init":
        loaded.weights["batchnorm_recalibrated_layers"] = recalibrate_batchnorm(module, feeds, INPUT_NAME)
    with timer("reparameterize"):
        module, reparam = reparameterize_for_export(module, feeds, INPUT_NAME, enabled=config.reparameterize,
                                                    atol=config.parity_atol)
    graph = export_verified(module, feeds, INPUT_NAME, format_scores_name(labels), opset,
                            simplify_graph=config.simplify, timer=timer, label=f"parity photo {photos[0].name}")
    provenance = provenance_of("classification", timm_source_info(loaded), loaded.weights, pre, opset)
    provenance["labels"] = {"count": len(labels), "source": labels_source}
    provenance["activation"] = config.activation.value
    provenance["reparameterization"] = reparam
    if config.alarm is not None:
        provenance["alarm"] = attach_alarm_head(graph, feeds, config.alarm, config.parity_atol)
    if config.architecture:
        provenance["architecture_overrides"] = config.architecture
    if graph.simplify_info is not None:
        provenance["simplify"] = graph.simplify_info
    parity = classifier_parity(graph.expected, graph.run.outputs, photos, labels, config.parity_atol, graph.blame(feeds))
    provenance["parity"] = parity.to_dict()
    onnx_path = ctx.paths["onnx"]
    next_steps = [
        f"python -m nxport.conventions {onnx_path}   # re-check any time, e.g. in CI",
        f"nxport calibrate {onnx_path} --images YOUR_PHOTOS/ --eval-images OTHER_PHOTOS/   # INT8 + its cost",
        "upload the .onnx to Nx AI Manager (Add model -> ONNX); the means/vars travel in the file",
    ]
    return Built([Graph("onnx", graph.model, provenance, norm, graph.run.evidence)], next_steps)
