"""Typed serving errors.

`ArtifactError` is raised while loading (a CLI-time problem, exit code 2). `ApiError` and its
subclasses are request-time problems; the app turns each into a TEI-style JSON body
`{"error": "...", "error_type": "..."}` with the status code it carries.
"""

from __future__ import annotations

from collections.abc import Iterable

from nxport.core.errors import NxportError


class ArtifactError(NxportError):
    """An ONNX file that cannot be served (unreadable, no Nx output kind, no doc_string...)."""


class PortUnavailableError(NxportError):
    """The address to serve on cannot be bound (in use, privileged, unknown host): refused before loading."""

    def __init__(self, host: str, port: int, reason: str, fix: str):
        super().__init__(f"Cannot listen on {host}:{port}: {reason}", fix=fix)
        self.host, self.port = host, port


class ApiError(Exception):
    status = 500
    error_type = "Backend"
    retry_after_s: int | None = None  # the Retry-After header of errors that go away by themselves

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict:
        return {"error": self.message, "error_type": self.error_type}

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}


class ValidationError(ApiError):
    """A request that parsed but asks for something the server cannot do (422)."""

    status = 422
    error_type = "Validation"


class BadInputError(ApiError):
    """Malformed JSON, bad base64, or bytes that are not an image (400)."""

    status = 400
    error_type = "Validation"


class DecodeError(BadInputError):
    error_type = "Decode"


class EmptyInputError(BadInputError):
    error_type = "Empty"


class TooManyInputsError(ApiError):
    status = 413
    error_type = "Validation"


class PayloadTooLargeError(ApiError):
    status = 413
    error_type = "PayloadTooLarge"


class TokenizerError(ApiError):
    """No text tower, or its tokenizer cannot be loaded (422)."""

    status = 422
    error_type = "Tokenizer"


class UnauthorizedError(ApiError):
    status = 401
    error_type = "Unauthorized"


class BackpressureError(ApiError):
    status = 429
    error_type = "Backpressure"
    retry_after_s = 1  # requests in flight finish in milliseconds to seconds


class UnhealthyError(ApiError):
    status = 503
    error_type = "Unhealthy"
    retry_after_s = 1  # starting (models load in seconds) or draining


class UnknownServedModelError(ValidationError):
    def __init__(self, name: str, served: Iterable[str]):
        from nxport.core.errors import close_matches

        served = sorted(served)
        hint = close_matches(name, served)
        did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
        super().__init__(f"Unknown model {name!r}.{did_you_mean} This server serves: {', '.join(served)}")
