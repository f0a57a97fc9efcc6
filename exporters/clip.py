"""CLIP export: a matched pair `<name>_img.onnx` (Nx image tower) + `<name>_txt.onnx` (text tower,
input `tokens-` int64 (1, L)), the tokenizer beside them, and optionally `<name>_zeroshot.onnx`: the
image tower with the class prompts' text embeddings baked in, a plain Nx `scores-` classifier.

Everything is built, checked and compared with PyTorch in memory; files appear only when all passed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nxport.conventions.kinds import TEXT_INPUT
from nxport.conventions.kinds.embedding import format_name as format_embedding_name
from nxport.conventions.kinds.scores import format_name as format_scores_name
from nxport.conventions.normalization import Normalization
from nxport.exporters.classification import INPUT_NAME, input_shape, provenance_of
from nxport.exporters.clip_sources import ClipModel, load_hf_clip, load_open_clip
from nxport.exporters.config import DEFAULT_OPSET, Preprocessing, PreprocessingOverrides, resolve_preprocessing
from nxport.exporters.labels import read_labels_file, validate_labels
from nxport.exporters.parity import classifier_parity, embedding_parity, nx_feeds, parity_photos
from nxport.exporters.pipeline import Built, ExportContext, ExportTask, Graph, run_export
from nxport.exporters.verification import VerifiedGraph, export_verified
from nxport.exporters.registry import register_task
from nxport.exporters.report import npu_lines
from nxport.exporters.templates import TEMPLATES
from nxport.core.atomic import PendingFile
from nxport.core.errors import ConfigError, ParityError

DEFAULT_TEMPLATES = ("a photo of a {}.",)
PAIR_PROMPTS = ("a photo of a cat", "a cup of coffee", "an astronaut in a space suit", "a rocket on a launch pad",
                "a motorcycle", "a portrait of a woman in uniform")


@dataclass
class ClipConfig:
    model: str  # HF id (or any label for a local dir), or an open_clip config name / JSON file
    source: str = "auto"  # auto | hf | open_clip
    weights: Path | None = None
    pretrained: bool = False
    random_init: bool = False
    hf_config: dict | None = None  # HF random init: CLIPConfig kwargs
    zero_shot: list[str] | Path | None = None  # class names, or a labels file
    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    replace_char: str | None = None
    opset: int = DEFAULT_OPSET
    preprocessing: PreprocessingOverrides = field(default_factory=PreprocessingOverrides)
    output_dir: Path = Path("build")
    name: str | None = None
    overwrite: bool = False
    parity_images: Path | None = None
    pair_atol: float = 1e-4
    targets: tuple[str, ...] = ()  # NPU profiles (conventions/targets): opset window + preflight in the report

    def __post_init__(self):
        self.targets = tuple(self.targets)
        self.output_dir = Path(self.output_dir)
        self.weights = Path(self.weights) if self.weights is not None else None
        if self.source not in ("auto", "hf", "open_clip"):
            raise ConfigError(f"source {self.source!r} not in auto, hf, open_clip", fix="pass --source hf")
        if not self.templates or any("{}" not in t for t in self.templates):
            raise ConfigError(f"prompt templates {list(self.templates)} must each contain '{{}}'",
                              fix='pass e.g. --template "a photo of a {}."')

    @property
    def artifact_name(self) -> str:
        return self.name or Path(self.model).stem.replace("/", "_").replace("-", "_").replace(".", "_")


class ZeroShotClassifier(nn.Module):
    """image -> softmax(logit_scale * normalized_image_embedding @ class_embeddings.T)."""

    def __init__(self, image_tower: nn.Module, class_embeddings: torch.Tensor, logit_scale: float):
        super().__init__()
        self.image_tower = image_tower
        self.register_buffer("class_embeddings", class_embeddings)
        self.logit_scale = logit_scale

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logit_scale * self.image_tower(image) @ self.class_embeddings.T, dim=1)


def load_clip(config: ClipConfig) -> ClipModel:
    source = config.source
    if source == "auto":
        source = "open_clip" if config.model.endswith(".json") or _is_open_clip_name(config.model) else "hf"
    if source == "open_clip":
        return load_open_clip(config.model, weights=config.weights, random_init=config.random_init)
    return load_hf_clip(config.model, weights=config.weights, pretrained=config.pretrained,
                        random_init=config.random_init, config_kwargs=config.hf_config)


def _is_open_clip_name(name: str) -> bool:
    try:
        import open_clip
    except ImportError:
        return False
    return name in open_clip.list_models()


def class_embeddings(clip: ClipModel, names: list[str], templates) -> torch.Tensor:
    """Mean of each class's normalized prompt embeddings, renormalized (CLIP's prompt ensembling)."""
    rows = []
    with torch.no_grad():
        for name in names:
            tokens = torch.from_numpy(clip.tokenizer([t.format(name) for t in templates]))
            mean = clip.text_tower(tokens).mean(dim=0)
            rows.append(mean / mean.norm())
    return torch.stack(rows)


@dataclass
class ClipResult:
    paths: dict[str, Path]
    report: dict

    def summary(self) -> str:
        lines = []
        for kind, artifact in self.report["artifacts"].items():
            checks = artifact["conformance"]
            lines.append(f"{kind:9} {self.paths[kind]}  ({artifact['size_bytes'] / 1e6:.1f} MB, opset "
                         f"{artifact['opset']}, IR {artifact['ir_version']}) {artifact['inputs'][0]['name']} -> "
                         f"{artifact['outputs'][0]['name'][:60]}  "
                         f"{'CONFORMANT' if checks['conformant'] else 'NOT CONFORMANT'}")
        for kind, artifact in self.report["artifacts"].items():
            lines += npu_lines(artifact["provenance"].get("npu_preflight"), f"npu       {kind}: ")
        pair = self.report["pair_agreement"]
        lines.append(f"pair      {pair['photos']} photos x {pair['prompts']} prompts: image-text cosine ONNX vs "
                     f"PyTorch max |d| {pair['max_abs_diff']:.1e} (tolerance {pair['tolerance']:.0e})")
        lines.append(f"tokenizer {self.paths['tokenizer']}/  (context length {self.report['tokenizer']['context_length']})")
        lines.append(f"report    {self.paths['report']}")
        return "\n".join(lines)


def _zero_shot_labels(config: ClipConfig) -> list[str] | None:
    if config.zero_shot is None:
        return None
    if isinstance(config.zero_shot, (list, tuple)):
        names, source = [n.strip() for n in config.zero_shot], "--zero-shot list"
    else:
        names, source = read_labels_file(config.zero_shot), f"file {Path(config.zero_shot).name}"
    if len(names) < 2:
        raise ConfigError(f"zero-shot needs at least 2 classes, got {names}", fix='pass --zero-shot "cat,dog"')
    return validate_labels(names, len(names), source, config.replace_char)


def pair_agreement(img: VerifiedGraph, txt: VerifiedGraph, atol: float) -> dict:
    """Image-text cosine matrix from the two ONNX graphs vs PyTorch: the pair must share one space.
    Both sides come from each tower's single verification pass."""
    onnx_img, onnx_txt = np.concatenate(img.run.outputs), np.concatenate(txt.run.outputs)
    torch_img, torch_txt = np.concatenate(img.expected), np.concatenate(txt.expected)
    worst = float(np.max(np.abs(onnx_img @ onnx_txt.T - torch_img @ torch_txt.T)))
    result = {"photos": len(onnx_img), "prompts": len(onnx_txt), "max_abs_diff": worst, "tolerance": atol}
    if worst > atol:
        raise ParityError(f"image-text cosines from the ONNX pair differ from PyTorch by {worst:.2e} > {atol:.0e}",
                          fix="try --opset 17; if it persists report the model")
    return result


def _export_tower(module, feeds, input_name, output_name, opset, timer, label, part) -> VerifiedGraph:
    return export_verified(module, feeds, input_name, output_name, opset, simplify_graph=True, timer=timer,
                           label=label, part=part)


def _zero_shot(clip, labels, config, photos, feeds, opset, timer):
    with timer("zero_shot", f"{len(labels)} classes x {len(config.templates)} prompts"), torch.no_grad():
        embeddings = class_embeddings(clip, labels, config.templates)
    classifier = ZeroShotClassifier(clip.image_tower, embeddings, clip.logit_scale).eval()
    graph = _export_tower(classifier, feeds, INPUT_NAME, format_scores_name(labels), opset, timer,
                          f"parity photo {photos[0].name}", "zero-shot classifier")
    parity = classifier_parity(graph.expected, graph.run.outputs, photos, labels, 1e-4, graph.blame(feeds))
    extra = {"classes": len(labels), "templates": list(config.templates), "logit_scale": clip.logit_scale,
             "simplify": graph.simplify_info, "parity": parity.to_dict()}
    return graph, extra


@dataclass
class ClipSource:
    """What the load stage found: the towers and tokenizer, the zero-shot classes, preprocessing, photos."""

    clip: ClipModel
    labels: list[str] | None
    pre: Preprocessing
    photos: list


class ClipTask(ExportTask):
    """An image tower, a text tower (+ a zero-shot classifier), and the tokenizer folder beside them."""

    def outputs(self, directory: Path) -> dict[str, Path]:
        name = self.config.artifact_name
        paths = {"img": directory / f"{name}_img.onnx", "txt": directory / f"{name}_txt.onnx",
                 "tokenizer": directory / f"{name}_tokenizer"}
        if self.config.zero_shot is not None:
            paths["zeroshot"] = directory / f"{name}_zeroshot.onnx"
        return paths

    def load(self, ctx: ExportContext) -> ClipSource:
        config = self.config
        clip = load_clip(config)
        labels = _zero_shot_labels(config)
        pre = resolve_preprocessing(("explicit", config.preprocessing), ("weights-config", clip.preprocessing),
                                    ("template:clip", TEMPLATES["clip"].preprocessing))
        return ClipSource(clip, labels, pre, parity_photos(config.parity_images))

    def build(self, ctx: ExportContext, source: ClipSource) -> Built:
        return build_clip(self.config, ctx, source)


@register_task("clip", ClipConfig, "CLIP -> <name>_img.onnx + <name>_txt.onnx (+ <name>_zeroshot.onnx)")
def export_clip(config: ClipConfig) -> ClipResult:
    exported = run_export(ClipTask(config))
    return ClipResult({**exported.paths, "report": exported.report_path}, exported.report)


def build_clip(config: ClipConfig, ctx: ExportContext, source: ClipSource) -> Built:
    clip, labels, pre, photos, paths, opset, timer = (source.clip, source.labels, source.pre, source.photos,
                                                      ctx.paths, ctx.opset, ctx.timer)
    norm, shape = Normalization.from_unit_scale(pre.mean, pre.std), input_shape(pre)
    feeds = nx_feeds(photos, INPUT_NAME, shape, norm)
    token_feeds = [{TEXT_INPUT: clip.tokenizer(p)} for p in PAIR_PROMPTS]
    img_graph = _export_tower(clip.image_tower, feeds, INPUT_NAME,
                              lambda ref: format_embedding_name(int(ref.shape[-1]), "l2", "cls"), opset, timer,
                              f"parity photo {photos[0].name}", "image tower")
    dim = int(img_graph.expected[0].shape[-1])
    txt_graph = _export_tower(clip.text_tower, token_feeds, TEXT_INPUT, format_embedding_name(dim, "l2", "eot"),
                              opset, timer, f"prompt {PAIR_PROMPTS[0]!r}", "text tower")
    img_parity = embedding_parity(img_graph.expected, img_graph.run.outputs, 0.9999, img_graph.blame(feeds))
    txt_parity = embedding_parity(txt_graph.expected, txt_graph.run.outputs, 0.9999, txt_graph.blame(token_feeds))
    pair = pair_agreement(img_graph, txt_graph, config.pair_atol)
    base = provenance_of("clip", clip.source, clip.weights, pre, opset)
    pair_info = {"image": paths["img"].name, "text": paths["txt"].name, "tokenizer": paths["tokenizer"].name,
                 "logit_scale": clip.logit_scale, "context_length": clip.tokenizer.context_length}
    text_doc_string(txt_graph.model, clip.tokenizer.context_length)
    graphs = [Graph("img", img_graph.model, {**base, "task": "clip-image", "pair": pair_info,
                                             "simplify": img_graph.simplify_info, "parity": img_parity.to_dict()},
                    norm, img_graph.run.evidence),
              Graph("txt", txt_graph.model, {**base, "task": "clip-text", "pair": pair_info,
                                             "simplify": txt_graph.simplify_info, "parity": txt_parity.to_dict()},
                    None, txt_graph.run.evidence)]
    if labels is not None:
        zeroshot, extra = _zero_shot(clip, labels, config, photos, feeds, opset, timer)
        graphs.append(Graph("zeroshot", zeroshot.model, {**base, "task": "clip-zero-shot", "pair": pair_info,
                                                         **extra}, norm, zeroshot.run.evidence))
    tokenizer = {"directory": paths["tokenizer"].name, "context_length": clip.tokenizer.context_length,
                 "vocab_size": len(clip.tokenizer.vocab), "source": clip.source.get("tokenizer")}
    next_steps = [f"python -m nxport.conventions {paths['img']}",
                  f"python -m nxport.conventions {paths['txt']}   # text profile: tokens- input",
                  "tokenize queries with exporters.clip_tokenizer.load_tokenizer(<name>_tokenizer)"]
    return Built(graphs, next_steps, [PendingFile(paths["tokenizer"], clip.tokenizer.save, directory=True)],
                 details={"pair_agreement": pair, "tokenizer": tokenizer})


def text_doc_string(model, context_length: int) -> None:
    """Text towers have no image normalization (rules C* do not apply); the doc_string says how to feed it."""
    model.graph.doc_string = json.dumps({"tokens": {"context_length": context_length, "dtype": "int64",
                                                    "layout": "<|startoftext|> bpe... <|endoftext|> 0..."}})
