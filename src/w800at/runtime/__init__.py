"""The asyncio runtime: performs what the engine asks, with real sockets."""

from __future__ import annotations

from .runner import Runtime

__all__ = ["Runtime"]
