"""Model endpoints: the OpenAI-compatible client, its response store and the demo endpoint."""

from evalkit.models.client import ClientStats, ModelClient
from evalkit.models.demo import DemoServer, serve_demo
from evalkit.models.heap import steady_gc
from evalkit.models.limiter import AdaptiveLimiter
from evalkit.models.request import derive_seed, first_requests, request_body
from evalkit.models.retry import EndpointError, RetryPolicy
from evalkit.models.store import ResponseStore, request_key

__all__ = ["AdaptiveLimiter", "ClientStats", "DemoServer", "EndpointError", "ModelClient", "ResponseStore",
           "RetryPolicy", "derive_seed", "first_requests", "request_body", "request_key", "serve_demo",
           "steady_gc"]
