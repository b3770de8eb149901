"""Real loopback servers for tests: DNS, SNTP, TCP echo/sink/source and UDP echo.

Each runs in a daemon thread, binds an ephemeral port on 127.0.0.1 (or ::1) by default, is a
context manager, and records what it saw so tests can assert exact bytes and counts.
"""
