"""Model endpoints: the OpenAI-compatible client, its response store and the demo endpoint.

Names are imported on first use (PEP 562): `evalkit score` needs only ``steady_gc`` and must
not pay for importing openai and aiohttp (about 1 s of its start-up)."""

from __future__ import annotations

import importlib
from typing import Any

_MODULE_OF = {"ClientStats": "client", "ModelClient": "client", "DemoServer": "demo", "serve_demo": "demo",
              "steady_gc": "heap", "AdaptiveLimiter": "limiter", "derive_seed": "request",
              "first_requests": "request", "request_body": "request", "EndpointError": "retry",
              "RetryPolicy": "retry", "ResponseStore": "store", "request_key": "store"}

__all__ = ["AdaptiveLimiter", "ClientStats", "DemoServer", "EndpointError", "ModelClient", "ResponseStore",
           "RetryPolicy", "derive_seed", "first_requests", "request_body", "request_key", "serve_demo",
           "steady_gc"]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value
