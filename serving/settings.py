"""Server settings: one typed dataclass, one table of options.

Precedence, per field: CLI flag > environment variable > default below. The CLI flags, their
environment variables and the dataclass fields come from the same table (`OPTIONS`), so they
cannot drift. Artifacts: positional paths > NXPORT_MODELS (separated by ',' or os.pathsep) >
NXPORT_MODEL (one path).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path

from nxport.core.errors import ConfigError

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class BatchingMode(str, Enum):
    DYNAMIC = "dynamic"  # an in-memory batch-N variant of the artifact, verified at load; else per-image
    PER_IMAGE = "per-image"  # the artifact as is, one image per run


@dataclass(frozen=True)
class Settings:
    models: tuple[Path, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    # when set, every route but /health needs `Authorization: Bearer <key>`; never printed (repr=False)
    api_key: str | None = field(default=None, repr=False)
    default_model: str | None = None  # used when a request names no model and several could serve it
    max_batch: int = 16  # images per inference run
    max_images: int = 64  # images per request (TEI's max_client_batch_size)
    max_payload_bytes: int = 32 * 1024 * 1024  # request body
    max_image_pixels: int = 40_000_000  # decompression-bomb guard, width x height declared by the header
    max_concurrent_requests: int = 64  # beyond this: 429 Backpressure
    max_connections: int = 256  # open connections + tasks (uvicorn limit_concurrency); beyond: 503
    batch_wait_ms: float = 0.0  # wait this long for more images before running a batch
    decode_workers: int = 2  # threads that decode and preprocess images (in parallel with inference)
    threads: int = 0  # onnxruntime intra-op threads per model; 0 = min(4, CPU count)
    batching: BatchingMode = BatchingMode.DYNAMIC
    log_level: str = "info"

    @property
    def intra_op_threads(self) -> int:
        return self.threads or max(1, min(4, os.cpu_count() or 1))

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{number} is not >= 1")
    return number


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"{number} is not >= 0")
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 65535:
        raise ValueError(f"{number} is outside 1..65535")
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError(f"{number} is not >= 0")
    return number


def _log_level(value: str) -> str:
    level = value.lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ValueError("allowed: debug, info, warning, error")
    return level


@dataclass(frozen=True)
class Option:
    field: str
    env: str
    parse: Callable[[str], object]
    help: str


OPTIONS: tuple[Option, ...] = (
    Option("host", "NXPORT_HOST", str, "interface to bind (default 127.0.0.1, loopback only)"),
    Option("port", "NXPORT_PORT", _port, "TCP port, 1..65535 (default 8080)"),
    Option("api_key", "NXPORT_API_KEY", str, "require `Authorization: Bearer KEY` (prefer the env var)"),
    Option("default_model", "NXPORT_DEFAULT_MODEL", str, "model used when a request names none"),
    Option("max_batch", "NXPORT_MAX_BATCH", _positive_int, "images per inference run (default 16)"),
    Option("max_images", "NXPORT_MAX_IMAGES", _positive_int, "images per request; more -> 413 (default 64)"),
    Option("max_payload_bytes", "NXPORT_MAX_PAYLOAD_BYTES", _positive_int, "request body limit; more -> 413 "
           "(default 32 MiB)"),
    Option("max_image_pixels", "NXPORT_MAX_IMAGE_PIXELS", _positive_int, "decompression-bomb guard: width x "
           "height limit (default 40e6)"),
    Option("max_concurrent_requests", "NXPORT_MAX_CONCURRENT_REQUESTS", _positive_int,
           "requests in flight; more -> 429 (default 64)"),
    Option("max_connections", "NXPORT_MAX_CONNECTIONS", _positive_int,
           "open connections; more -> 503 before any request is read (default 256)"),
    Option("batch_wait_ms", "NXPORT_BATCH_WAIT_MS", _non_negative_float, "wait for more images before a "
           "batch runs (default 0: batch what queued during the previous run)"),
    Option("decode_workers", "NXPORT_DECODE_WORKERS", _positive_int, "image decode threads (default 2)"),
    Option("threads", "NXPORT_THREADS", _non_negative_int, "onnxruntime intra-op threads per model "
           "(default 0 = min(4, CPUs))"),
    Option("batching", "NXPORT_BATCHING", BatchingMode, "dynamic (default) or per-image"),
    Option("log_level", "NXPORT_LOG_LEVEL", _log_level, "debug, info (default), warning, error"),
)


def _parse(option: Option, raw, source: str):
    if not isinstance(raw, str):
        raw = raw.value if isinstance(raw, Enum) else str(raw)
    try:
        return option.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{source} = {raw!r} is not a valid {option.field}: {exc}",
                          fix=f"see `python -m nxport.serving --help` ({option.help})") from exc


def _model_paths(cli_models, env: Mapping[str, str]) -> tuple[Path, ...]:
    if cli_models:
        return tuple(Path(p) for p in cli_models)
    if env.get("NXPORT_MODELS"):
        parts = env["NXPORT_MODELS"].replace(os.pathsep, ",").split(",")
        return tuple(Path(p.strip()) for p in parts if p.strip())
    if env.get("NXPORT_MODEL"):
        return (Path(env["NXPORT_MODEL"]),)
    return ()


def resolve_settings(cli: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """CLI values (None = not given) > environment > defaults, validated."""
    cli = dict(cli or {})
    env = os.environ if env is None else env
    values: dict[str, object] = {"models": _model_paths(cli.get("models"), env)}
    for option in OPTIONS:
        if cli.get(option.field) is not None:
            values[option.field] = _parse(option, cli[option.field], "--" + option.field.replace("_", "-"))
        elif env.get(option.env):
            values[option.field] = _parse(option, env[option.env], option.env)
    known = {f.name for f in fields(Settings)}
    return replace(Settings(), **{k: v for k, v in values.items() if k in known})
