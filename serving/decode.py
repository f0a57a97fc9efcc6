"""Request strings -> model inputs, with typed 400s.

An image input is base64 (standard or URL-safe alphabet, padding optional) or a `data:` URL with
`;base64`. The header's declared size is checked against the pixel limit before a single pixel is
decoded (decompression bombs); then `core.images.load_image` gives an EXIF-upright RGB image
(alpha composited on white, gray expanded) and `conventions.nx_input.nx_preprocess` feeds it
exactly as the Nx runtime does.
"""

from __future__ import annotations

import base64
import binascii
import io
import re

import numpy as np

from nxport.serving.errors import DecodeError, TokenizerError

_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(;[^;,]*)*),(?P<data>.*)$", re.DOTALL)
_WHITESPACE = re.compile(r"\s+")


def image_bytes(value: str, index: int) -> bytes:
    """Base64 or data: URL -> raw bytes; DecodeError naming inputs[index] otherwise."""
    text = value.strip()
    if not text:
        raise DecodeError(f"inputs[{index}] is an empty string; expected a base64 image or a data: URL")
    if text[:5].lower() == "data:":
        match = _DATA_URL.match(text)
        if match is None or ";base64" not in match.group("params").lower():
            raise DecodeError(f"inputs[{index}] is a data: URL without ';base64,' (only base64 data URLs "
                              "are accepted, e.g. data:image/jpeg;base64,/9j/...)")
        text = match.group("data")
    text = _WHITESPACE.sub("", text)
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"inputs[{index}] is not valid base64 ({exc}); send the image file's bytes "
                          "base64-encoded, or a data:image/...;base64, URL") from exc
    if not data:
        raise DecodeError(f"inputs[{index}] decodes to zero bytes")
    return data


def check_pixels(data: bytes, index: int, max_pixels: int) -> None:
    """Read only the header: refuse non-images and images larger than `max_pixels` before decoding."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"inputs[{index}] declares too many pixels (decompression bomb guard: {exc})") from exc
    except Image.UnidentifiedImageError as exc:
        raise DecodeError(f"inputs[{index}] is not an image (no known image format in its {len(data)} bytes); "
                          "send a JPEG, PNG, WebP, BMP or TIFF file") from exc
    except Exception as exc:  # SyntaxError, struct errors, OSError on damaged headers
        raise DecodeError(f"inputs[{index}] is not a readable image ({type(exc).__name__}: {exc}); "
                          "send a JPEG, PNG, WebP, BMP or TIFF file") from exc
    if width * height > max_pixels:
        raise DecodeError(f"inputs[{index}] is {width}x{height} = {width * height} pixels, over the limit of "
                          f"{max_pixels} (decompression bomb guard); resize it before sending")


def decode_image(value: str, index: int, max_pixels: int):
    """-> upright RGB PIL image."""
    from nxport.core.errors import ImageDecodeError
    from nxport.core.images import load_image

    data = image_bytes(value, index)
    check_pixels(data, index, max_pixels)
    try:
        return load_image(data)
    except ImageDecodeError as exc:
        reason = str(exc).splitlines()[0].replace("'<bytes>'", f"inputs[{index}]")
        raise DecodeError(f"{reason}; send a JPEG, PNG, WebP, BMP or TIFF file") from exc


def image_tensor(value: str, index: int, spec, max_pixels: int) -> np.ndarray:
    """One request string -> the (1, ...) float32 tensor the device would feed."""
    from nxport.conventions.nx_input import nx_preprocess

    return nx_preprocess(decode_image(value, index, max_pixels), spec.layout, spec.normalization)


def text_tensors(texts: list[str], model) -> list[np.ndarray]:
    """Tokenize with the model's (lazily loaded) tokenizer -> list of (1, context) int64 arrays."""
    tokenizer = model.tokenizer()
    context = model.spec.input_shape[-1]
    try:
        tokens = np.asarray(tokenizer(list(texts)))
    except Exception as exc:  # the tokenizer is another engineer's code: report, never crash the request
        raise TokenizerError(f"Tokenizing failed for model {model.name!r} ({type(exc).__name__}: {exc})") from exc
    if tokens.shape != (len(texts), context) or not np.issubdtype(tokens.dtype, np.integer):
        raise TokenizerError(f"The tokenizer of {model.name!r} returned {tokens.dtype} {tokens.shape}; the text "
                             f"tower needs int64 ({len(texts)}, {context})")
    tokens = tokens.astype(np.int64, copy=False)
    return [tokens[i:i + 1] for i in range(len(texts))]
