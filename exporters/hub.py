"""Is the Hugging Face hub reachable? Asked the way huggingface_hub itself would reach it."""

from __future__ import annotations


def hub_reachable(timeout: float = 3.0) -> bool:
    """One HEAD request through huggingface_hub's own HTTP session, so its offline mode
    (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE), its endpoint (HF_ENDPOINT, mirrors) and the proxies its
    client honours (HTTPS_PROXY...) decide, as they will for the download. Fast on purpose: a download
    through an unreachable hub retries for ~45 s before giving up."""
    from huggingface_hub import constants, get_session

    if constants.is_offline_mode():
        return False
    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception:  # offline mode, DNS, refused, proxy, TLS, timeout: all mean "not from here"
        return False
    return True  # any HTTP answer, even an error status, means the hub answers
