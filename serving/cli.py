"""`python -m nxport.serving MODEL.onnx [MORE.onnx] --port N` (and `nxport serve`, wired in nxport/cli.py).

`add_arguments(parser)` adds the options to any argparse parser; `run(args) -> int` serves until
interrupted. Every option defaults to None so the environment and then the defaults apply
(precedence in serving/settings.py).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import socket

from nxport.serving.errors import PortUnavailableError
from nxport.serving.settings import OPTIONS, BatchingMode, Settings, resolve_settings

LISTEN_BACKLOG = 2048  # uvicorn's default

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
    parser = argparse.ArgumentParser(prog="python -m nxport.serving", description="Serve Nx artifacts over HTTP "
                                     "(POST /embed, POST /classify, GET /info, GET /health).")
    add_arguments(parser)
    return parser


def _require_server_packages() -> None:
    from nxport.core.extras import require

    require("serve")  # MissingExtraError: pip install "nxport[serve]"


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("nxport.serving").setLevel(level.upper())


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is loaded: a port in use or a host that does not
    resolve is one typed error (exit 2), and "ready" can only be said once clients can connect."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise PortUnavailableError(host, port, f"host {host!r} does not resolve ({exc.strerror})",
                                   "pass an address of this machine with --host (127.0.0.1, 0.0.0.0, ::1)") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart over TIME_WAIT
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise _bind_error(host, port, exc) from exc
    sock.set_inheritable(True)
    return sock


def _bind_error(host: str, port: int, exc: OSError) -> PortUnavailableError:
    if exc.errno == errno.EADDRINUSE:
        return PortUnavailableError(host, port, "the port is in use", "pick a free port with --port, or stop "
                                    "the server holding this one (`ss -ltnp` names it)")
    if exc.errno == errno.EACCES:
        return PortUnavailableError(host, port, "permission denied (ports below 1024 need privileges)",
                                    "pick a port of 1024 or more with --port")
    return PortUnavailableError(host, port, exc.strerror or str(exc),
                                "pass an address of this machine with --host (127.0.0.1, 0.0.0.0, ::1)")


def _quiet_uvicorn(level: str) -> None:
    """uvicorn's own startup/shutdown lines repeat ours (and would follow "ready"); its errors still show."""
    if level != "debug":
        for name in ("uvicorn", "uvicorn.error"):
            logging.getLogger(name).setLevel(logging.WARNING)


def serve(settings: Settings) -> int:
    """Bind, load the artifacts, then serve until SIGINT/SIGTERM."""
    import uvicorn

    from nxport.serving.app import create_app, describe_models
    from nxport.serving.models import load_models

    log = logging.getLogger("nxport.serving")
    sock = bind_socket(settings.host, settings.port)
    with contextlib.closing(sock):
        models = load_models(settings.models, settings)
        app = create_app(models, settings)
        if not settings.is_loopback and settings.api_key is None:
            log.warning("binding %s without an API key: anyone on the network can call this server "
                        "(set NXPORT_API_KEY)", settings.host)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                                access_log=False, log_config=None, timeout_graceful_shutdown=5,
                                limit_concurrency=settings.max_connections)  # bounded open connections
        _quiet_uvicorn(settings.log_level)
        url = f"http://{settings.host}:{sock.getsockname()[1]}"
        _run_server(config, sock, lambda: log.info("ready on %s: %s", url, describe_models(models)))
    return 0


def _run_server(config, sock: socket.socket, on_ready) -> None:
    """uvicorn on our socket; `on_ready` once the lifespan started the batchers and the socket accepts."""
    import uvicorn

    class ReadyServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                on_ready()

    ReadyServer(config).run(sockets=[sock])


def run(args: argparse.Namespace) -> int:
    """`nxport serve` / `python -m nxport.serving` (both under core.guard's error guard)."""
    settings = resolve_settings({k: v for k, v in vars(args).items() if k != "run"})
    _configure_logging(settings.log_level)
    _require_server_packages()
    return serve(settings)


def main(argv: list[str] | None = None) -> int:
    from nxport.core.guard import run_guarded

    return run_guarded(run, build_parser().parse_args(argv))
