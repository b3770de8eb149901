"""Private network namespaces for tests that need a network set up differently from the
host's (ICMP echo ignored, a multicast-capable link), without touching the host.

Creating one needs root and iproute2 (``ip netns``); without them the caller skips
with that reason.  Traffic inside stays inside: the namespace has only its own `lo`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

NEEDS = "needs root and iproute2 ('ip netns') to make a private network namespace"


@contextmanager
def private_netns(prefix: str, *setup: Sequence[str]) -> Iterator[str]:
    """A new namespace with its loopback up, then each ``setup`` command run as
    ``ip -n <name> <command...>``; removed afterwards.  Skips the test when it cannot
    be made."""
    ip = shutil.which("ip")
    if ip is None or os.geteuid() != 0:
        pytest.skip(NEEDS)
    name = f"w800at-{prefix}-{uuid.uuid4().hex[:8]}"
    created = subprocess.run([ip, "netns", "add", name], capture_output=True, text=True)
    if created.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {created.stderr.strip()}")
    try:
        subprocess.run([ip, "-n", name, "link", "set", "lo", "up"], check=True)
        for command in setup:
            subprocess.run([ip, "-n", name, *command], check=True)
        yield name
    finally:
        subprocess.run([ip, "netns", "del", name], check=False)


def run_pytest_in(netns: str, node_id: str, env: dict[str, str]) -> None:
    """Run one test (``path::name``) again inside ``netns`` with ``env`` added (so the
    test knows it is the inner run).  Fails with the child's output if it fails."""
    ip = shutil.which("ip")
    assert ip is not None
    env = dict(os.environ, **env)
    result = subprocess.run(
        [
            ip,
            "netns",
            "exec",
            netns,
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            node_id,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout, result.stdout[-3000:]
