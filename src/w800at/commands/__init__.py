"""Every AT command, one declarative row each, grouped by the spec's sections.

Each module declares its `Feature` (commands, settings, boot / reset / Wi-Fi-down
handlers); `FEATURES` is the set a module is built from.  Handlers run in this order.
"""

from __future__ import annotations

from ..core.feature import FeatureSet
from . import basic, connect, receive, send, server, services, softap, ssl, wifi

FEATURES = FeatureSet(
    (
        basic.FEATURE,
        wifi.FEATURE,
        softap.FEATURE,
        services.FEATURE,
        server.FEATURE,
        ssl.FEATURE,
        connect.FEATURE,
        send.FEATURE,
        receive.FEATURE,
    )
)

__all__ = ["FEATURES"]
