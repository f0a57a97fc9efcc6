"""`python -m serving MODEL.onnx [MORE.onnx] --port N` (and `nxport serve`, wired in nxport/cli.py).

`add_arguments(parser)` adds the options to any argparse parser; `run(args) -> int` serves until
interrupted. Every option defaults to None so the environment and then the defaults apply
(precedence in serving/settings.py).
"""

from __future__ import annotations

import argparse
import logging

from core.errors import MissingDependencyError
from serving.settings import OPTIONS, BatchingMode, Settings, resolve_settings

GROUPS = {
    "network": ("host", "port", "api_key"),
    "models": ("default_model", "batching", "max_batch", "batch_wait_ms", "threads"),
    "limits": ("max_images", "max_payload_bytes", "max_image_pixels", "max_concurrent_requests", "max_connections",
               "decode_workers"),
    "logging": ("log_level",),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="*", metavar="MODEL.onnx",
                        help="artifacts to serve (default: $NXPORT_MODELS, comma-separated, or $NXPORT_MODEL)")
    options = {option.field: option for option in OPTIONS}
    for title, names in GROUPS.items():
        group = parser.add_argument_group(title)
        for name in names:
            option = options[name]
            extra = {"choices": [m.value for m in BatchingMode]} if name == "batching" else {}
            group.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                               metavar=option.env.split("_", 1)[1], help=f"{option.help} [env {option.env}]", **extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serving", description="Serve Nx artifacts over HTTP "
                                     "(POST /embed, POST /classify, GET /info, GET /health).")
    add_arguments(parser)
    return parser


def _require_server_packages() -> None:
    for package in ("fastapi", "uvicorn"):
        try:
            __import__(package)
        except ImportError as exc:
            raise MissingDependencyError(package, "serving (python -m serving / nxport serve)") from exc


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("nxport.serving").setLevel(level.upper())


def serve(settings: Settings) -> int:
    """Load the artifacts, then serve until SIGINT/SIGTERM."""
    import uvicorn

    from serving.app import create_app
    from serving.models import load_models

    log = logging.getLogger("nxport.serving")
    models = load_models(settings.models, settings)
    app = create_app(models, settings)
    if not settings.is_loopback and settings.api_key is None:
        log.warning("binding %s without an API key: anyone on the network can call this server "
                    "(set NXPORT_API_KEY)", settings.host)
    log.info("serving %s on http://%s:%d", ", ".join(m.name for m in models), settings.host, settings.port)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                            access_log=False, log_config=None, timeout_graceful_shutdown=5,
                            limit_concurrency=settings.max_connections)  # bounded open connections
    uvicorn.Server(config).run()
    return 0


def run(args: argparse.Namespace) -> int:
    """`nxport serve` / `python -m serving` (both under core.guard's error guard)."""
    settings = resolve_settings({k: v for k, v in vars(args).items() if k != "run"})
    _configure_logging(settings.log_level)
    _require_server_packages()
    return serve(settings)


def main(argv: list[str] | None = None) -> int:
    from core.guard import run_guarded

    return run_guarded(run, build_parser().parse_args(argv))
