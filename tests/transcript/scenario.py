"""One session with every part a transcript shows: a send and its payload, an +IPD
flood cut anywhere, link lines, a fault and a rule note, passthrough both ways and the
``+++`` escape."""

from __future__ import annotations

from tests.transcript.helpers import Event

SEND_PAYLOAD = b"AT+GMR\r\nxy\r\n"  # looks like a command: it is data

F1 = bytes(range(100))
F2 = b"\r\n+IPD,"  # a frame's data that looks like the next frame
F3 = (bytes(range(256)) * 12)[:2920]
F4 = b">"  # ... or like the prompt
F5 = b"0,CLOSED\r\n\r\nOK\r\n>>>>"  # ... or like lines
FLOOD = F1 + F2 + F3 + F4 + F5
PT_UP = b"abc+++def\r\nOK\r\n"


def ipd(data: bytes, link: int | None = 0) -> bytes:
    head = b"+IPD," if link is None else b"+IPD,%d," % link
    return b"\r\n" + head + b"%d:" % len(data) + data + b"\r\n"


FRAMES = [ipd(F1), ipd(F2), ipd(F3), ipd(F4), ipd(F5)]
M = b"".join(FRAMES)
_AT = [sum(len(f) for f in FRAMES[:i]) for i in range(len(FRAMES))]  # where each starts
C1 = _AT[1] + 5  # cut inside the second frame's header: "\r\n+IP" | "D,0,7:"
C2 = _AT[2] + len(b"\r\n+IPD,0,2920:") + 1000  # cut inside the third frame's data
C3 = _AT[4] + len(b"\r\n+IPD,0,20:") + 5  # cut inside the last frame's data

EVENTS: list[Event] = [
    (0.0, "--", "trace start"),
    (0.0001, "--", "channel pty /dev/pts/7 -> ./w800.tty"),
    (0.0002, "--", "attached"),
    (0.3, "<<", b"\r\nready\r\n"),
    # two command lines in one chunk
    (0.4, ">>", b'AT+CIPMUX=1\r\nAT+CIPSTART=0,"TCP","127.0.0.1",34835\r\n'),
    (0.4001, "<<", b'AT+CIPMUX=1\r\n\r\nOK\r\nAT+CIPSTART=0,"TCP","127.0.0.1",34835\r\n'),
    (0.401, "--", "link 0 open TCP 127.0.0.1:34835"),
    (0.4011, "<<", b"0,CONNECT\r\n\r\nOK\r\n"),
    # the payload comes in the command's chunk, before the prompt
    (0.5, ">>", b"AT+CIPSEND=0,12\r\n" + SEND_PAYLOAD),
    (0.5001, "<<", b"AT+CIPSEND=0,12\r\n\r\nOK\r\n\r\n>"),
    (0.5002, "<<", b"\r\nRecv 12 bytes\r\n"),
    (0.5003, "L0>", SEND_PAYLOAD),
    (0.5004, "<<", b"\r\nSEND OK\r\n"),
    # the flood: five frames in four chunks, cut mid-header and mid-data
    (0.6, "L0<", FLOOD),
    (0.6001, "<<", M[:C1]),
    (0.6002, "<<", M[C1:C2]),
    (0.6003, "<<", M[C2:C3]),
    (0.6004, "<<", M[C3:]),
    (0.7, "--", "fault link 0 reset_peer after=100"),
    (0.7001, "--", "link 0 closed"),
    (0.7002, "<<", b"0,CLOSED\r\n"),
    # passthrough
    (0.8, ">>", b"AT+CIPMUX=0\r\n"),
    (0.8001, "<<", b"AT+CIPMUX=0\r\n\r\nOK\r\n"),
    (0.81, ">>", b"AT+CIPMODE=1\r\n"),
    (0.8101, "<<", b"AT+CIPMODE=1\r\n\r\nOK\r\n"),
    (0.82, ">>", b'AT+CIPSTART="TCP","127.0.0.1",34836\r\n'),
    (0.8201, "<<", b'AT+CIPSTART="TCP","127.0.0.1",34836\r\n'),
    (0.821, "--", "link 0 open TCP 127.0.0.1:34836"),
    (0.8211, "<<", b"CONNECT\r\n\r\nOK\r\n"),
    (0.9, ">>", b"AT+CIPSEND\r\n"),
    (0.9001, "<<", b"AT+CIPSEND\r\n\r\nOK\r\n\r\n>"),
    (1.0, ">>", PT_UP[:9]),  # "+++" inside data is data
    (1.00005, ">>", PT_UP[9:]),  # within the guard time: the same data row
    (1.0301, "L0>", PT_UP),
    (1.031, "L0<", PT_UP),
    (1.0311, "<<", PT_UP),  # raw: no lines, no OK
    (1.2, ">>", b"+++"),  # silence before, but "x" follows at once: data
    (1.201, ">>", b"x"),
    (1.2311, "L0>", b"+++x"),
    (1.232, "L0<", b"+++x"),
    (1.2321, "<<", b"+++x"),
    (1.5, ">>", b"++"),  # silence, "+++" (in two chunks), silence: the escape
    (1.5005, ">>", b"+"),
    (1.51, "L0<", b"late"),  # inside the guard time: still passthrough
    (1.5101, "<<", b"late"),
    (1.7, ">>", b"AT+CIPMODE=0\r\n"),
    (1.7001, "<<", b"AT+CIPMODE=0\r\n\r\nOK\r\n"),
    (1.8, "L0<", b"after"),
    (1.8001, "<<", ipd(b"after", None)),
    (1.9, "--", "rule r1 fired: close after 1 frame"),
    (2.0, ">>", b"AT+CIPCLOSE\r\n"),
    (2.0001, "<<", b"AT+CIPCLOSE\r\n"),
    (2.0002, "--", "link 0 closed"),
    (2.0003, "<<", b"CLOSED\r\n\r\nOK\r\n"),
    (2.1, "--", "detached"),
    (2.1001, "--", "closed"),
]
