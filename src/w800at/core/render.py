"""Every byte the module sends to the host is built here (wire-format doc).

Other modules never spell a wire string themselves: they call these functions.
Text is latin-1 so any byte the host gave us (an SSID, a hostname) goes back as is.
"""

from __future__ import annotations

from collections.abc import Iterable

CRLF = b"\r\n"

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
FAIL = b"\r\nFAIL\r\n"
SEND_OK = b"\r\nSEND OK\r\n"
SEND_FAIL = b"\r\nSEND FAIL\r\n"
SEND_CANCELLED = b"\r\nSEND CANCELLED\r\n"
BUSY = b"\r\nbusy p...\r\n"
READY = b"\r\nready\r\n"
PROMPT = b"\r\nOK\r\n\r\n>"

WIFI_CONNECTED = b"WIFI CONNECTED\r\n"
WIFI_GOT_IP = b"WIFI GOT IP\r\n"
WIFI_DISCONNECT = b"WIFI DISCONNECT\r\n"
WIFI_GOT_IP6_LL = b"WIFI GOT IPv6 LL\r\n"
WIFI_GOT_IP6_GL = b"WIFI GOT IPv6 GL\r\n"


def b(text: str) -> bytes:
    return text.encode("latin-1", "replace")


def err_code(code: int) -> bytes:
    """The line that precedes ERROR under AT+SYSLOG=1."""
    return b"ERR CODE:0x%08x\r\n" % code


def info(name: str, *fields: object) -> bytes:
    """``+NAME:f1,f2,...\\r\\n``; str fields are written as given (quote with `q`)."""
    return b(f"{name}:" + ",".join(str(f) for f in fields)) + CRLF


def q(text: str) -> str:
    """A quoted string field."""
    return f'"{text}"'


def line(text: str) -> bytes:
    return b(text) + CRLF


def lines(texts: Iterable[str]) -> bytes:
    return b"".join(line(t) for t in texts)


# --- Wi-Fi station ---------------------------------------------------------------


def cipsta(field: str, value: str) -> bytes:
    """``+CIPSTA:<field>:"<value>"`` (ip, gateway, netmask, ip6ll, ip6gl)."""
    return b(f'+CIPSTA:{field}:"{value}"') + CRLF


def cipap(field: str, value: str) -> bytes:
    """``+CIPAP:<field>:"<value>"`` (ip, gateway, netmask)."""
    return b(f'+CIPAP:{field}:"{value}"') + CRLF


def cwlif(ip: str, mac: str) -> bytes:
    """A station connected to the SoftAP: ``+CWLIF:<ip addr>,<mac>``."""
    return b(f"+CWLIF:{ip},{mac}") + CRLF


def cifsr(field: str, value: str) -> bytes:
    """``+CIFSR:<field>,"<value>"`` (APIP, APMAC, STAIP, STAIP6LL, STAIP6GL, STAMAC)."""
    return b(f'+CIFSR:{field},"{value}"') + CRLF


def cwlap(fields: Iterable[object]) -> bytes:
    """One access point of AT+CWLAP: ``+CWLAP:(<f1>,<f2>,...)`` (str fields as given:
    quote with `q`)."""
    return b("+CWLAP:(" + ",".join(str(f) for f in fields) + ")") + CRLF


# --- links -----------------------------------------------------------------------


def connect(link_id: int | None) -> bytes:
    return b"CONNECT\r\n" if link_id is None else b"%d,CONNECT\r\n" % link_id


def closed(link_id: int | None) -> bytes:
    return b"CLOSED\r\n" if link_id is None else b"%d,CLOSED\r\n" % link_id


def link_conn(
    status: int, link_id: int, kind: str, server: bool, ip: str, rport: int, lport: int
) -> bytes:
    """The AT+SYSMSG bit-1 replacement for ``<id>,CONNECT``."""
    return b(f'+LINK_CONN:{status},{link_id},"{kind}",{int(server)},"{ip}",{rport},{lport}') + CRLF


def recv_bytes(n: int) -> bytes:
    return b"\r\nRecv %d bytes\r\n" % n


def ipd_header(link_id: int | None, length: int, addr: tuple[str, int] | None) -> bytes:
    """``\\r\\n+IPD,[<id>,]<len>[,"<ip>",<port>]:`` — the data and ``\\r\\n`` follow."""
    head = b"\r\n+IPD," if link_id is None else b"\r\n+IPD,%d," % link_id
    if addr is None:
        return head + b"%d:" % length
    return head + b'%d,"%s",%d:' % (length, b(addr[0]), addr[1])


IPD_TRAILER = CRLF


def ipd_notice(link_id: int | None, length: int) -> bytes:
    """Passive-mode notice: ``\\r\\n+IPD,[<id>,]<len>\\r\\n`` (no colon, no data)."""
    if link_id is None:
        return b"\r\n+IPD,%d\r\n" % length
    return b"\r\n+IPD,%d,%d\r\n" % (link_id, length)


def recvdata_header(length: int, addr: tuple[str, int] | None) -> bytes:
    """``+CIPRECVDATA:<len>,`` or with CIPDINFO ``+CIPRECVDATA:<len>,"<ip>",<port>,``."""
    if addr is None:
        return b"+CIPRECVDATA:%d," % length
    return b'+CIPRECVDATA:%d,"%s",%d,' % (length, b(addr[0]), addr[1])


def sendl_progress(sent: int, received: int) -> bytes:
    return b"+CIPSENDL:%d,%d\r\n" % (sent, received)


QUITT = b"+QUITT\r\n"

# --- services --------------------------------------------------------------------

#: SNTP set the clock (first time after AT+CIPSNTPCFG or power-on; ESP-AT)
TIME_UPDATED = b"+TIME_UPDATED\r\n"
