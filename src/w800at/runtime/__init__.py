"""The asyncio runtime: performs what the engine asks, with real sockets."""

from __future__ import annotations

import importlib

from .runner import Runtime

#: feature modules with an ``install(rt: Runtime) -> None`` function
FEATURES: tuple[str, ...] = ("net", "services", "server")


def install_features(rt: Runtime) -> None:
    for name in FEATURES:
        importlib.import_module(f"{__name__}.{name}").install(rt)


__all__ = ["FEATURES", "Runtime", "install_features"]
