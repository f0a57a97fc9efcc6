"""`tokens-`: the int64 (1, L) token ids of a CLIP text tower (the text profile, rules B1-B5)."""

from __future__ import annotations

import numpy as np

from nxport.conventions.kinds.base import InputKind

# "a photo of a cat" in CLIP's BPE, with start/end tokens: a realistic query, not all zeros.
CLIP_TOKENS = [49406, 320, 1125, 539, 320, 2368, 49407]


def default_feed(shape: tuple[int, ...], dtype) -> np.ndarray:
    length = shape[1]
    return np.asarray([(CLIP_TOKENS + [0] * length)[:length]], dtype=dtype)


TOKENS = InputKind(name="tokens-", profile="text", default_feed=default_feed,
                   meaning="int64 (1, L) token ids; an artifact with this input is a CLIP text tower")
