"""Which served model answers a request.

A request may name its model (`"model": "<name>"`). Without one, the models that can serve the
route are the candidates: one candidate is used; several -> the default model if it is one of
them, else 422 listing them. A model that cannot serve the route is a 422 pointing at the route
that can (/embed on a classifier -> /classify). Text inputs go to a text tower: the named model
if it is one, or the text tower paired with the named image tower (CLIP `X_img` / `X_txt`).
"""

from __future__ import annotations

from nxport.serving.errors import TokenizerError, UnknownServedModelError, ValidationError
from nxport.serving.models import ServedModel, Task

TEXT, IMAGE = "text", "image"
ROUTES = {Task.CLASSIFICATION: "/classify", Task.DETECTION: "/detect", Task.EMBEDDING: "/embed",
          Task.TEXT_EMBEDDING: "/embed"}


class ModelRegistry:
    def __init__(self, models: list[ServedModel], default: str | None = None):
        self.models = {m.name: m for m in models}
        if default is not None and default not in self.models:
            raise UnknownServedModelError(default, self.models)
        self.default = default

    def names(self) -> list[str]:
        return list(self.models)

    def get(self, name: str) -> ServedModel:
        if name not in self.models:
            raise UnknownServedModelError(name, self.models)
        return self.models[name]

    def _pick(self, candidates: list[ServedModel], what: str) -> ServedModel:
        if len(candidates) == 1:
            return candidates[0]
        if self.default in {m.name for m in candidates}:
            return self.models[self.default]
        if not candidates:
            served = ", ".join(f"{m.name} ({m.task.value})" for m in self.models.values())
            hint = " Use /embed for embedding models." if what == "classification" else " Use /classify for classifiers."
            hint = " Use /classify or /embed for these models." if what == "detection" else hint
            raise ValidationError(f"No served model does {what}; this server serves: {served}.{hint}")
        raise ValidationError(f"Several served models do {what}: {', '.join(m.name for m in candidates)}; "
                              "name one with the \"model\" field")

    def for_classify(self, requested: str | None) -> ServedModel:
        return self._for_task(Task.CLASSIFICATION, requested, "a classifier")

    def for_detect(self, requested: str | None) -> ServedModel:
        return self._for_task(Task.DETECTION, requested, "a detector")

    def _for_task(self, task: Task, requested: str | None, noun: str) -> ServedModel:
        """The named model if it does `task` (else 422 naming the route that serves it), or the one candidate."""
        if requested is None:
            return self._pick([m for m in self.models.values() if m.task is task], task.value)
        model = self.get(requested)
        if model.task is not task:
            raise ValidationError(f"Model {model.name!r} is a {model.task.value} model, not {noun}; "
                                  f"use POST {ROUTES[model.task]} for it")
        return model

    def for_embed(self, requested: str | None, kind: str | None) -> tuple[ServedModel, str]:
        """-> (model, "image" | "text")."""
        if requested is None:
            return self._embed_default(kind)
        model = self.get(requested)
        if model.task is Task.CLASSIFICATION:
            raise ValidationError(f"Model {model.name!r} is a classifier; use POST /classify for it "
                                  "(/embed serves embedding models)")
        if model.task is Task.DETECTION:
            raise ValidationError(f"Model {model.name!r} is a detector; use POST /detect for it "
                                  "(/embed serves embedding models)")
        kind = kind or (TEXT if model.task is Task.TEXT_EMBEDDING else IMAGE)
        if (kind == TEXT) == (model.task is Task.TEXT_EMBEDDING):
            return model, kind
        if model.companion is not None:
            return self.models[model.companion], kind
        if kind == TEXT:
            raise TokenizerError(f"Model {model.name!r} has no text tower: it embeds images only "
                                 "(serve a CLIP pair X_img.onnx + X_txt.onnx for text)")
        raise ValidationError(f"Model {model.name!r} is a text tower: it embeds text only; send "
                              "\"kind\": \"text\" or name the image tower")

    def _embed_default(self, kind: str | None) -> tuple[ServedModel, str]:
        images = [m for m in self.models.values() if m.task is Task.EMBEDDING]
        texts = [m for m in self.models.values() if m.task is Task.TEXT_EMBEDDING]
        if kind is None:
            kind = TEXT if texts and not images else IMAGE
        if kind == TEXT and not texts:
            raise TokenizerError("No served model has a text tower; text inputs need a CLIP pair "
                                 "(X_img.onnx + X_txt.onnx with its tokenizer files)")
        if kind == TEXT and self.default in self.models and self.models[self.default].companion:
            default = self.models[self.default]
            return (default if default.task is Task.TEXT_EMBEDDING else self.models[default.companion]), kind
        if kind == TEXT:
            return self._pick(texts, "text embedding"), kind
        return self._pick(images, "image embedding"), kind
