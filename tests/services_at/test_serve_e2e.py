"""`w800at serve --pty` end to end: the config file points DNS / SNTP at loopback
responders ([network] dns_port / sntp_port); the AT commands keep the spec's shape."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.conftest import Port, ServeProcess
from tests.servers.dns_responder import DnsResponder
from tests.servers.sntp_responder import SntpResponder

READY = b"\r\nready\r\n"
OK = b"\r\nOK\r\n"
T0 = 1_634_636_876.0  # 2021-10-19 09:47:56 UTC

CONFIG = """
[station]
ip = "127.0.0.1"
gateway = "127.0.0.1"
netmask = "255.0.0.0"
mac = "02:11:22:33:44:55"
ip6_ll = "fe80::11:22ff:fe33:4455"
ip6_gl = "::1"

[network]
dns_port = {dns}
sntp_port = {sntp}
timeout = 2.0
"""
JOIN = (
    b'AT+CWJAP="lab","secret"\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n'
    + OK
    + b"WIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n"
)

Serve = Callable[..., ServeProcess]


def booted(srv: ServeProcess) -> Port:
    port = srv.connect()
    port.expect(READY)
    return port


def test_cipdomain_cipdns_and_sntp_over_a_pty(serve: Serve) -> None:
    records = {"example.test": ["192.0.2.10", "2001:db8::10"], "ntp.test": ["127.0.0.1"]}
    with DnsResponder(records, host="127.0.0.2") as dns, SntpResponder(T0) as ntp:
        config = CONFIG.format(dns=dns.port, sntp=ntp.port)
        srv = serve("pty", config=config)
        port = booted(srv)
        port.command(b'AT+CWJAP="lab","secret"\r\n', JOIN)
        port.command(b'AT+CIPDNS=1,"127.0.0.2"\r\n', b'AT+CIPDNS=1,"127.0.0.2"\r\n' + OK)
        port.command(
            b'AT+CIPDOMAIN="example.test",3\r\n',
            b'AT+CIPDOMAIN="example.test",3\r\n+CIPDOMAIN:"2001:db8::10"\r\n' + OK,
        )
        port.command(
            b'AT+CIPSNTPCFG=1,1245,"ntp.test"\r\n', b'AT+CIPSNTPCFG=1,1245,"ntp.test"\r\n' + OK
        )
        deadline = time.monotonic() + 5
        while not ntp.requests_snapshot() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        port.send(b"AT+CIPSNTPTIME?\r\n")
        got = port.read_exact(
            len(b"AT+CIPSNTPTIME?\r\n+CIPSNTPTIME:Tue Oct 19 22:32:56 2021\r\n" + OK)
        )
        assert got in (
            b"AT+CIPSNTPTIME?\r\n+CIPSNTPTIME:Tue Oct 19 22:32:%d 2021\r\n" % s + OK
            for s in (56, 57)
        ), got
        port.quiet()
        assert [(q.name, q.rdtype) for q in dns.queries_snapshot()] == [
            ("example.test", "AAAA"),
            ("ntp.test", "A"),
        ]
        # AT+CIPDNS is kept in NVS (AT+SYSSTORE=1 by default): still there after a restart
        assert srv.stop() == 0
        srv2 = serve("pty", store=srv.store, config=config)
        port2 = booted(srv2)
        # the saved AP is joined again at power-up (AT+CWAUTOCONN=1)
        port2.expect(b"WIFI CONNECTED\r\nWIFI GOT IP\r\nWIFI GOT IPv6 LL\r\nWIFI GOT IPv6 GL\r\n")
        port2.command(b"AT+CIPDNS?\r\n", b'AT+CIPDNS?\r\n+CIPDNS:1,"127.0.0.2"\r\n' + OK)
        port2.command(
            b"AT+CIPSNTPCFG?\r\n",
            b'AT+CIPSNTPCFG?\r\n+CIPSNTPCFG:0,0,"cn.ntp.org.cn","ntp.sjtu.edu.cn",'
            b'"us.pool.ntp.org"\r\n' + OK,
        )
