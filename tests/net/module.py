"""The net tests' module: the shared `tests.live.LiveModule`, echo off and Wi-Fi joined.

Echo off keeps the expected bytes of the data paths short; the waits are longer than
the default because these tests move megabytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from tests.harness import LAB_ADDRESSES
from tests.live import OK, LiveModule
from w800at.core.options import ModuleOptions
from w800at.profiles import W800, Profile

#: the name these tests knew the driver by
Host = LiveModule

DEADLINE = 10.0


@contextlib.asynccontextmanager
async def module(profile: Profile = W800) -> AsyncIterator[LiveModule]:
    """A booted module with echo off and Wi-Fi joined (station 127.0.0.1)."""
    options = ModuleOptions(addresses=LAB_ADDRESSES)
    async with LiveModule(options=options, profile=profile, timeout=DEADLINE) as mod:
        await mod.cmd(b"ATE0", OK)
        await mod.join()
        yield mod
