"""The HTTP API: `create_app(models, settings)` -> a FastAPI app.

    POST /embed     {"inputs": [b64 | data: URL, ...], "normalize": true, "model"?: str, "kind"?: "image"|"text"}
                    -> [[float, ...], ...]
    POST /classify  {"inputs": [...], "top_k": 5, "model"?: str} -> [[{"label", "score", "id"}, ...], ...]
                    (an artifact with `alarm-` flags adds "alarm": true|false to every entry; every raised
                    alarm is among the top_k entries unless more than top_k classes pass the threshold)
    POST /detect    {"inputs": [...], "threshold"?: 0..1, "model"?: str}
                    -> [[{"box": [x1, y1, x2, y2] in the sent image's pixels, "label", "score", "class_id"}, ...], ...]
    GET  /info      every served model: task, dimension / labels count, input, preprocessing, opset, INT8...
    GET  /health    200 {"status": "ok"} when every model's batcher runs, else 503

Errors are TEI-shaped `{"error": str, "error_type": str}`: 400 malformed JSON / bad base64 / not an
image / empty inputs, 401 missing API key, 413 too many inputs or body too large, 422 validation
(wrong types, unknown model, wrong route for the task, no text tower), 429 too many requests in
flight, 503 not ready. Bad input never gives a 500. Each request logs one line with its timings
and returns X-Decode-Time / X-Inference-Time / X-Total-Time headers (milliseconds).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import numpy as np
import pydantic
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nxport.serving import decode
from nxport.serving.batching import Batcher
from nxport.serving.errors import (ApiError, BackpressureError, BadInputError, EmptyInputError, PayloadTooLargeError,
                            TooManyInputsError, UnauthorizedError, UnhealthyError, ValidationError)
from nxport.serving.models import ServedModel
from nxport.serving.registry import TEXT, ModelRegistry
from nxport.serving.schemas import ClassifyRequest, EmbedRequest
from nxport.serving.settings import Settings

log = logging.getLogger("nxport.serving")
PUBLIC_PATHS = ("/health",)


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


class Runtime:
    """Everything a request needs: models, one batcher each, the decode pool, the in-flight count."""

    def __init__(self, models: list[ServedModel], settings: Settings):
        self.settings = settings
        self.registry = ModelRegistry(models, settings.default_model)
        self.batchers = {m.name: Batcher(m.name, m.runner, settings.batch_wait_ms / 1000.0) for m in models}
        self.decode_pool = ThreadPoolExecutor(max_workers=settings.decode_workers, thread_name_prefix="decode")
        self.in_flight = 0
        self.ready = False

    def start(self) -> None:
        for batcher in self.batchers.values():
            batcher.start()
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        await asyncio.gather(*(b.stop() for b in self.batchers.values()))
        self.decode_pool.shutdown(wait=True)

    @property
    def healthy(self) -> bool:
        return self.ready and all(b.alive for b in self.batchers.values())

    async def run_in_pool(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(self.decode_pool, func, *args)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"Request body is {int(declared)} bytes, over the limit of {limit} bytes; "
                                   "send fewer or smaller images per request")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"Request body exceeds the limit of {limit} bytes; send fewer or "
                                       "smaller images per request")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_request(schema: type[pydantic.BaseModel], body: bytes):
    try:
        return schema.model_validate_json(body)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise BadInputError(f"Request body is not valid JSON ({errors[0]['msg']})") from exc
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors[:3])
        raise ValidationError(f"Invalid request: {details}") from exc


def check_count(inputs: list, settings: Settings) -> None:
    if not inputs:
        raise EmptyInputError("`inputs` is empty; send at least one image")
    if len(inputs) > settings.max_images:
        raise TooManyInputsError(f"{len(inputs)} inputs in one request, over the limit of {settings.max_images}; "
                                 "split the request (or raise --max-images)")


async def _tensors(runtime: Runtime, model: ServedModel, inputs: list[str], kind: str) -> list[np.ndarray]:
    """Decode + preprocess every input in the pool (in parallel with other requests' inference)."""
    if kind == TEXT:
        return await runtime.run_in_pool(decode.text_tensors, inputs, model)
    limit = runtime.settings.max_image_pixels
    jobs = [runtime.run_in_pool(decode.image_tensor, value, i, model.spec, limit) for i, value in enumerate(inputs)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    failure = next((r for r in results if isinstance(r, BaseException)), None)
    if failure is not None:
        raise failure
    return results


async def _infer(runtime: Runtime, request: Request, model: ServedModel, inputs: list[str], kind: str,
                 *, with_companions: bool = False):
    timings = request.state.timings
    start = time.perf_counter()
    tensors = await _tensors(runtime, model, inputs, kind)
    middle = time.perf_counter()
    outputs = await runtime.batchers[model.name].infer(tensors)
    timings.update(decode=(middle - start) * 1000, inference=(time.perf_counter() - middle) * 1000)
    request.state.log.update(model=model.name, inputs=len(inputs), kind=kind)
    rows = outputs.reshape(len(inputs), -1)
    return rows if with_companions or not model.spec.companions else rows[:, :model.spec.width]


def split_companions(rows: np.ndarray, spec) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Joined rows (primary output, then each companion, see batching.joined_outputs) -> the primary
    output and {response field: values}."""
    primary, start, extra = rows[:, :spec.width], spec.width, {}
    for companion in spec.companions:
        extra[companion.field] = rows[:, start:start + companion.width]
        start += companion.width
    return primary, extra


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def top_k(scores: np.ndarray, labels: tuple[str, ...], k: int, flags: dict[str, np.ndarray] | None = None
          ) -> list[list[dict]]:
    """Best k per row; `flags` (response field -> (N, C) 0/1 values) add a boolean per entry."""
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    flags = flags or {}
    return [[{"label": labels[j] if j < len(labels) else str(j), "score": float(row[j]), "id": int(j),
              **{name: bool(values[i, j] > 0.5) for name, values in flags.items()}}
             for j in best] for i, (row, best) in enumerate(zip(scores, order))]


async def embed(runtime: Runtime, request: Request, payload: EmbedRequest):
    check_count(payload.inputs, runtime.settings)
    model, kind = runtime.registry.for_embed(payload.model, payload.kind)
    vectors = await _infer(runtime, request, model, payload.inputs, kind)
    if payload.normalize and not model.spec.normalized_in_graph:
        vectors = l2_normalize(vectors)
    return vectors.tolist()


async def classify(runtime: Runtime, request: Request, payload: ClassifyRequest):
    check_count(payload.inputs, runtime.settings)
    model = runtime.registry.for_classify(payload.model)
    rows = await _infer(runtime, request, model, payload.inputs, "image", with_companions=True)
    scores, flags = split_companions(rows, model.spec)
    return top_k(scores, model.spec.labels, payload.top_k, flags)


async def detect(runtime: Runtime, request: Request, payload):
    from nxport.serving.detection import detect as run_detection

    check_count(payload.inputs, runtime.settings)
    return await run_detection(runtime, request, payload)


def _timing_headers(timings: dict) -> dict:
    names = {"decode": "X-Decode-Time", "inference": "X-Inference-Time"}
    return {names[key]: f"{value:.2f}" for key, value in timings.items() if key in names}


async def serve_request(runtime: Runtime, request: Request, schema, handler) -> JSONResponse:
    """Limits, parsing, backpressure and typed errors around one route handler."""
    try:
        if not runtime.healthy:
            raise UnhealthyError("The server is not ready (starting or stopping); retry shortly")
        payload = parse_request(schema, await read_body(request, runtime.settings.max_payload_bytes))
        if runtime.in_flight >= runtime.settings.max_concurrent_requests:
            raise BackpressureError(f"{runtime.in_flight} requests in flight, the limit is "
                                    f"{runtime.settings.max_concurrent_requests}; retry shortly")
        runtime.in_flight += 1
        try:
            result = await handler(runtime, request, payload)
        finally:
            runtime.in_flight -= 1
    except ApiError as exc:
        request.state.log["error"] = exc.error_type
        return error_response(exc)
    except Exception as exc:  # a bug or a failed inference, never bad input: logged with the traceback
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        request.state.log["error"] = "Backend"
        return JSONResponse({"error": f"internal error ({type(exc).__name__}: {exc})", "error_type": "Backend"},
                            status_code=500)
    headers = _timing_headers(request.state.timings)
    headers["X-Model"] = request.state.log.get("model", "")
    return JSONResponse(result, headers=headers)


def info(runtime: Runtime) -> dict:
    settings = runtime.settings
    return {
        "models": [m.info() for m in runtime.registry.models.values()],
        "default_model": settings.default_model,
        "limits": {"max_images": settings.max_images, "max_payload_bytes": settings.max_payload_bytes,
                   "max_image_pixels": settings.max_image_pixels, "max_batch": settings.max_batch,
                   "max_concurrent_requests": settings.max_concurrent_requests,
                   "max_connections": settings.max_connections},
        "auth": settings.api_key is not None,
        "version": _version(),
    }


def _version() -> str:
    from nxport.core import __version__

    return f"nxport {__version__}"


def _authorized(request: Request, api_key: str) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())


def _log_line(request: Request, status: int, total_ms: float) -> None:
    fields = getattr(request.state, "log", {})
    timings = getattr(request.state, "timings", {})
    parts = [f"{request.method} {request.url.path} {status}"]
    parts += [f"{key}={value}" for key, value in fields.items()]
    parts += [f"{key}_ms={value:.1f}" for key, value in timings.items()]
    log.info("%s total_ms=%.1f", " ".join(parts), total_ms)


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    @app.middleware("http")
    async def auth_timing_and_log(request: Request, call_next):
        start = time.perf_counter()
        request.state.timings, request.state.log = {}, {}
        if settings.api_key and request.url.path not in PUBLIC_PATHS and not _authorized(request, settings.api_key):
            response = error_response(UnauthorizedError("Missing or wrong API key; send "
                                                        "`Authorization: Bearer <key>`"))
        else:
            response = await call_next(request)
        total_ms = (time.perf_counter() - start) * 1000
        response.headers["X-Total-Time"] = f"{total_ms:.2f}"
        _log_line(request, response.status_code, total_ms)
        return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        error_type = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "Validation")
        return JSONResponse({"error": str(exc.detail), "error_type": error_type}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # a bug, not bad input: logged with the traceback
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": f"internal error ({type(exc).__name__})", "error_type": "Backend"},
                            status_code=500)


def describe_models(models: list[ServedModel]) -> str:
    return ", ".join(f"{m.name} ({m.task.value}, batching {m.runner.mode.value})" for m in models)


def create_app(models: list[ServedModel], settings: Settings) -> FastAPI:
    runtime = Runtime(models, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime.start()  # "ready" is said by serving.cli once the socket listens too
        yield
        log.info("stopping: draining batchers")
        await runtime.stop()

    app = FastAPI(title="nxport serving", version=_version(), lifespan=lifespan)
    app.state.runtime = runtime
    _install_middleware(app, settings)
    _install_error_handlers(app)

    @app.get("/health")
    async def health():
        if not runtime.healthy:
            return error_response(UnhealthyError("The server is not ready (starting or stopping)"))
        return {"status": "ok", "models": runtime.registry.names()}

    @app.get("/info")
    async def get_info():
        return info(runtime)

    @app.post("/embed", openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": EmbedRequest.model_json_schema()}}}})
    async def post_embed(request: Request):
        return await serve_request(runtime, request, EmbedRequest, embed)

    @app.post("/classify", openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": ClassifyRequest.model_json_schema()}}}})
    async def post_classify(request: Request):
        return await serve_request(runtime, request, ClassifyRequest, classify)

    from nxport.serving.detection import DetectRequest

    @app.post("/detect", openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": DetectRequest.model_json_schema()}}}})
    async def post_detect(request: Request):
        return await serve_request(runtime, request, DetectRequest, detect)

    return app
