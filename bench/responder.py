"""The minimal Python PTY responder: the floor for "a Python process behind a PTY".

Answers ``\\r\\nOK\\r\\n`` to every ``AT\\r\\n`` line and speaks the smallest possible
``AT+CIPSEND=<n>`` dialogue (``OK`` + ``>``, take ``n`` bytes and drop them, ``Recv``
+ ``SEND OK``), with blocking reads and no parsing beyond that.  It shows how much
of the module's CIPSEND time is the three PTY round trips the protocol needs per
chunk.  Usage: ``responder.py LINK_PATH``.
"""

from __future__ import annotations

import os
import signal
import sys
import tty

PROMPT = b"\r\nOK\r\n\r\n>"


def main() -> None:
    link = sys.argv[1]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # run the finally: unlink
    master, slave = os.openpty()
    tty.setraw(slave)
    os.symlink(os.ttyname(slave), link)
    buf = b""
    want = sent = 0  # payload bytes still to take, and the whole payload's size
    try:
        while True:
            buf += os.read(master, 65536)
            while buf:
                if want:
                    take = min(want, len(buf))
                    buf, want = buf[take:], want - take
                    if not want:
                        os.write(master, b"\r\nRecv %d bytes\r\n\r\nSEND OK\r\n" % sent)
                    continue
                end = buf.find(b"\r\n")
                if end < 0:
                    break
                line, buf = buf[:end], buf[end + 2 :]
                if line.startswith(b"AT+CIPSEND="):
                    sent = want = int(line[11:])
                    os.write(master, PROMPT)
                else:
                    os.write(master, b"\r\nOK\r\n")
    finally:
        os.unlink(link)


if __name__ == "__main__":
    main()
