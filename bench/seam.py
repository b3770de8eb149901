"""The per-link seam's own cost: ``StreamLink._rx`` and ``_write`` per chunk, no fault.

Run it with two interpreters to compare two checkouts (each imports its own w800at)::

    python bench/seam.py                              # this checkout
    /path/to/other/.venv/bin/python bench/seam.py     # another one

A chunk goes through the seam's checks (closing, faults, tap) and a stand-in
transport and owner that do nothing, so only the seam is timed.
"""

from __future__ import annotations

import sys
import timeit

from w800at.runtime.net_links import StreamLink


class _Owner:
    def link_data(self, link: object, data: bytes, addr: tuple[str, int]) -> None:
        pass

    def link_lost(self, link: object, reason: str) -> None:
        pass


class _Transport:
    def write(self, data: bytes) -> None:
        pass


def main() -> None:
    link = StreamLink(_Owner(), 0, "TCP")  # type: ignore[arg-type]
    link.transport = _Transport()
    data = b"x" * 2920
    addr = ("127.0.0.1", 1)
    n = 2_000_000
    rx = min(timeit.repeat(lambda: link._rx(data, addr), number=n, repeat=7)) / n * 1e9
    wr = min(timeit.repeat(lambda: link._write(data), number=n, repeat=7)) / n * 1e9
    print(f"{sys.executable}: _rx {rx:.1f} ns/chunk, _write {wr:.1f} ns/chunk")


if __name__ == "__main__":
    main()
