"""Make ``tests.servers`` importable and expose its fixtures to these tests.

The repository root is put on ``sys.path`` here because pytest's default import mode only adds
the first directory above the test package; the root conftest may make this redundant.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.servers.fixtures import (  # noqa: E402
    dns_responder,
    sntp_responder,
    tcp_echo_server,
    tcp_sink_server,
    udp_echo_server,
)

__all__ = [
    "dns_responder",
    "sntp_responder",
    "tcp_echo_server",
    "tcp_sink_server",
    "udp_echo_server",
]
