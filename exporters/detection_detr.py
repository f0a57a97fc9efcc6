"""DETR-family detectors from Hugging Face transformers (YOLOS, DETR): a local `save_pretrained`
directory, or a config for random init. The network ends in one raw tensor [1, Q, 4 + C + 1]:
normalised (cx, cy, w, h) boxes and the class logits including "no object"; the tail does what
transformers' `post_process_object_detection` does (softmax, best real class, score > threshold,
cxcywh -> xyxy scaled to input pixels; set prediction, so no NMS).
"""

from __future__ import annotations

import json
from pathlib import Path

from nxport.exporters.config import IMAGENET_MEAN, IMAGENET_STD
from nxport.exporters.detection_config import HeadLayout
from nxport.exporters.detection_head import INPUT_NAME, DetectorNetwork
from nxport.core.console import info
from nxport.core.errors import ConfigError, DetectorHeadError, EagerForwardError, WeightsError

SOFTMAX_DETR_TYPES = ("yolos", "detr")  # logits with a trailing no-object class, softmax post-processing
RAW_NAME = "raw_head"


def _transformers():
    from nxport.exporters.hf_source import _transformers as load

    return load()


def _load_model(config):
    """-> (model, model_type, weights provenance)."""
    transformers = _transformers()
    if config.random_init:
        kwargs = dict(config.hf_config or {})
        model_type = kwargs.pop("model_type", "yolos")
        _check_type(model_type, config.model)
        hf_config = transformers.AutoConfig.for_model(model_type, **kwargs)
        model = transformers.AutoModelForObjectDetection.from_config(hf_config)
        return model.eval(), model_type, {"source": "random-init"}
    if config.weights is None or not (Path(config.weights) / "config.json").is_file():
        raise WeightsError(f"{config.model}: --weights must be a save_pretrained directory with config.json",
                           fix="pass --weights ./yolos-tiny/ (from save_pretrained), or --random-init")
    model_type = json.loads((Path(config.weights) / "config.json").read_text(encoding="utf-8")).get("model_type")
    _check_type(model_type, config.model)
    model = transformers.AutoModelForObjectDetection.from_pretrained(str(config.weights))
    return model.eval(), model_type, {"source": "local", "directory": Path(config.weights).name}


def _check_type(model_type: str | None, name: str) -> None:
    if model_type not in SOFTMAX_DETR_TYPES:
        raise DetectorHeadError(f"{name}: model_type {model_type!r} is not a supported DETR-family detector; "
                                f"allowed: {', '.join(SOFTMAX_DETR_TYPES)} (RT-DETR / D-FINE use sigmoid + top-K "
                                "query selection, not supported yet)",
                                fix="export a YOLOS or DETR checkpoint, or an Ultralytics ONNX via --weights")


def _raw_head(model):
    import torch

    class RawHead(torch.nn.Module):
        """image -> [1, Q, 4 + C + 1]: the boxes and logits post_process_object_detection reads."""

        def __init__(self, detector):
            super().__init__()
            self.detector = detector

        def forward(self, image):
            out = self.detector(pixel_values=image)
            return torch.cat([out.pred_boxes, out.logits], dim=-1)

    return RawHead(model).eval()


def _input_size(config, hf_config) -> tuple[tuple[int, int], str]:
    """-> ((H, W), where it came from, for the report)."""
    if config.input_size is not None:
        return config.input_size, "--input-size"
    size = getattr(hf_config, "image_size", None)
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return (int(size[0]), int(size[1])), "config image_size"
    raise ConfigError(f"{config.model} has no fixed image_size in its config", fix="pass --input-size H W")


def fit_mid_position_table(model, name: str) -> dict | None:
    """transformers sizes YOLOS' mid-layer position table with floor(H * W / p^2) patches but reads it as
    an (H // p) x (W // p) grid. With an image_size that is not a multiple of the patch size (yolos-tiny's
    [800, 1333]: 4165 vs 50 x 83 = 4150) the two differ, and the model fails in PyTorch itself at every
    input size. Such a table can never have run a forward pass, let alone been trained, so the grid's
    rows are kept and the surplus dropped; the report says so. -> what was changed, or None."""
    import torch

    interpolation = getattr(getattr(getattr(model, "vit", None), "encoder", None), "interpolation", None)
    table = getattr(interpolation, "mid_position_embeddings", None)
    if table is None:
        return None
    cfg = model.config
    (height, width), patch, tokens = cfg.image_size, cfg.patch_size, cfg.num_detection_tokens
    grid = (height // patch) * (width // patch)
    patches = table.shape[2] - 1 - tokens
    if patches == grid:
        return None
    if patches != height * width // patch ** 2:
        raise EagerForwardError(
            f"{name}: the mid position table holds {patches} patch positions, but config image_size "
            f"{[height, width]} with patch_size {patch} reads a {height // patch}x{width // patch} grid ({grid}); "
            "the model fails in PyTorch itself at every input size",
            fix="use the config.json saved together with these weights (image_size, patch_size, "
            "num_detection_tokens)")
    with torch.no_grad():
        kept = torch.cat([table[:, :, :1 + grid], table[:, :, table.shape[2] - tokens:]], dim=2)
    interpolation.mid_position_embeddings = torch.nn.Parameter(kept.clone())
    info(f"{name}: image_size {[height, width]} is not a multiple of patch_size {patch}; transformers' mid "
         f"position table has {patches} patch rows for a {height // patch}x{width // patch} grid ({grid}), "
         "which fails even in PyTorch: keeping the grid's rows")
    return {"mid_position_table": {"patch_rows": patches, "kept": grid,
                                   "cause": f"transformers sizes it floor(H*W/p^2) = {patches} but reads "
                                            f"{height // patch}x{width // patch} (image_size {[height, width]} "
                                            f"is not a multiple of patch_size {patch})"}}


def _mean_std(config) -> tuple[tuple[float, ...], tuple[float, ...]]:
    path = Path(config.weights) / "preprocessor_config.json" if config.weights else None
    if path is not None and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("image_mean") and data.get("image_std"):
            return tuple(data["image_mean"]), tuple(data["image_std"])
    return IMAGENET_MEAN, IMAGENET_STD  # what DETR and YOLOS processors default to


def detr_network(config):
    """-> (DetectorNetwork, the PyTorch raw-head module, (mean, std) on the 0..1 scale)."""
    import torch

    from nxport.exporters.onnx_export import export_module

    model, model_type, weights = _load_model(config)
    (height, width), size_source = _input_size(config, model.config)
    repairs = fit_mid_position_table(model, config.model) if model_type == "yolos" else None
    module = _raw_head(model)
    onnx_model = export_module(module, torch.zeros(1, 3, height, width), INPUT_NAME, [RAW_NAME], config.opset)
    raw_shape = tuple(int(d.dim_value) for d in onnx_model.graph.output[0].type.tensor_type.shape.dim)
    num_classes = int(model.config.num_labels)
    names = [str(model.config.id2label.get(i, f"class_{i}")) for i in range(num_classes)]
    if raw_shape[-1] != 4 + num_classes + 1:
        raise DetectorHeadError(f"{config.model}: raw head {list(raw_shape)} does not hold 4 box values and "
                                f"{num_classes} + 1 logits", fix="report the model to nxport")
    cut_node = next((n.name or n.op_type for n in onnx_model.graph.node if RAW_NAME in n.output), RAW_NAME)
    source = {"library": "transformers", "model": config.model, "model_type": model_type,
              "transformers": _transformers().__version__, "weights": weights}
    if repairs:
        source["repairs"] = repairs
    net = DetectorNetwork(onnx_model, RAW_NAME, raw_shape, cut_node, HeadLayout.DETR, height, width, config.opset,
                          num_classes, names, source, size_source=size_source)
    return net, module, _mean_std(config)
