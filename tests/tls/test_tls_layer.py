"""The links' own TLS layer (`w800at.runtime.tls_layer.TlsSession`) on its own: two
sessions talk through memory, in any chunking, and every plaintext chunk comes with
the TLS bytes of the records that carried it (issue 12, item 11)."""

from __future__ import annotations

import random
import ssl

import pytest

from tests.tls.peers import ForeignPki, make_foreign_pki, plain_server_context
from w800at.runtime.tls_layer import TlsSession


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ForeignPki:
    return make_foreign_pki(tmp_path_factory.mktemp("pki"))


def pair(pki: ForeignPki, version: ssl.TLSVersion) -> tuple[TlsSession, TlsSession]:
    sctx = plain_server_context(pki.server_cert, pki.server_key)
    sctx.minimum_version = sctx.maximum_version = version
    sctx.num_tickets = 0
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    return TlsSession(cctx, server_side=False), TlsSession(sctx, server_side=True)


def chunks(data: bytes, how: str, rng: random.Random) -> list[bytes]:
    if how == "whole":
        return [data] if data else []
    if how == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 700)
        out.append(data[i : i + n])
        i += n
    return out


def shake(client: TlsSession, server: TlsSession, how: str, rng: random.Random) -> None:
    to_server = client.start()
    for _ in range(10):
        for c in chunks(to_server, how, rng):
            assert server.receive(c) == (b"", 0)
        to_client = server.outgoing()
        to_server = b""
        for c in chunks(to_client, how, rng):
            assert client.receive(c) == (b"", 0)
            to_server += client.outgoing()
        if client.established and server.established and not to_server:
            return
    raise AssertionError("no handshake")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
@pytest.mark.parametrize("how", ["whole", "bytewise", "random"])
def test_plaintext_and_its_wire_bytes_in_any_chunking(
    pki: ForeignPki, version: ssl.TLSVersion, how: str
) -> None:
    rng = random.Random(12)
    client, server = pair(pki, version)
    shake(client, server, how, rng)
    assert client.obj.version() == {ssl.TLSVersion.TLSv1_3: "TLSv1.3"}.get(version, "TLSv1.2")
    messages = [rng.randbytes(rng.randint(1, 3000)) for _ in range(20)]
    wire = b"".join(server.write(m) for m in messages)
    got, cost = bytearray(), 0
    for c in chunks(wire, how, rng):
        plain, w = client.receive(c)
        assert (w > len(plain)) if plain else w == 0
        got += plain
        cost += w
    assert bytes(got) == b"".join(messages)
    assert cost == len(wire)  # every TLS byte is counted once, with the data it carried
    # and the other way
    up = client.write(b"ping" * 1000)
    plain, w = server.receive(up)
    assert plain == b"ping" * 1000 and w == len(up)


def test_one_record_one_count(pki: ForeignPki) -> None:
    client, server = pair(pki, ssl.TLSVersion.TLSv1_3)
    shake(client, server, "whole", random.Random(1))
    rec = server.write(b"x" * 100)
    assert len(rec) == 5 + 100 + 1 + 16  # header, data, content type, AEAD tag
    assert client.receive(rec[:50]) == (b"", 0)  # half a record: nothing yet
    assert client.receive(rec[50:]) == (b"x" * 100, 122)


def test_close_notify_is_the_peers_close(pki: ForeignPki) -> None:
    client, server = pair(pki, ssl.TLSVersion.TLSv1_2)
    shake(client, server, "whole", random.Random(2))
    bye = server.write(b"bye") + server.close_notify()
    assert client.receive(bye) == (b"bye", len(bye))
    assert client.peer_closed


def test_a_failed_check_stops_the_handshake(pki: ForeignPki) -> None:
    client, server = pair(pki, ssl.TLSVersion.TLSv1_3)

    def refuse(obj: ssl.SSLObject) -> None:
        raise ssl.SSLCertVerificationError("not the name we wanted")

    client.check = refuse
    server.receive(client.start())
    with pytest.raises(ssl.SSLCertVerificationError):
        client.receive(server.outgoing())
    assert not client.established


def test_a_doomed_handshake_fails_on_either_side(pki: ForeignPki) -> None:
    """The test bench's tls_fail: a doomed client sends no ClientHello; a doomed server
    answers a ClientHello with a handshake_failure alert, which the client reports."""
    client, server = pair(pki, ssl.TLSVersion.TLSv1_3)
    client.fail_handshake()
    with pytest.raises(ssl.SSLError, match="test bench fault"):
        client.start()
    client, server = pair(pki, ssl.TLSVersion.TLSv1_3)
    server.fail_handshake()
    with pytest.raises(ssl.SSLError, match="test bench fault"):
        server.receive(client.start())
    alert = server.outgoing()
    assert alert == bytes((21, 3, 3, 0, 2, 2, 40))
    with pytest.raises(ssl.SSLError, match=r"(?i)handshake.failure"):
        client.receive(alert)
    assert not client.established and not server.established


@pytest.mark.parametrize(
    "junk",
    [b"HTTP/1.1 400 Bad Request\r\n\r\n", b"\x16\x03\x01\xff\xff" + b"x" * 10, b"\x00" * 64],
)
def test_a_peer_that_is_not_tls_fails_at_once(pki: ForeignPki, junk: bytes) -> None:
    client, _ = pair(pki, ssl.TLSVersion.TLSv1_3)
    client.start()
    with pytest.raises(ssl.SSLError):
        client.receive(junk)


def test_the_seam_sees_plaintext_and_the_wire_bytes_go_on_the_side(pki: ForeignPki) -> None:
    """A real SSL link (runtime only, a recording engine): the link tap and the byte
    counters at the seam see the data; the engine gets each chunk with the TLS bytes
    it cost, exactly what the server sent for it; ``wire_down`` counts every TLS byte,
    the handshake's too."""
    import asyncio

    from tests.net.helpers import RecordingRuntime, run
    from tests.tls.counting_peer import CountingTlsServer
    from w800at.core.net_actions import Connect, TlsSettings
    from w800at.runtime.tls_layer import TlsStreamLink

    seen: list[tuple[str, int, bytes]] = []

    class Tap:
        def up(self, link_id: int, data: bytes) -> None:
            seen.append(("up", link_id, data))

        def down(self, link_id: int, data: bytes) -> None:
            seen.append(("down", link_id, data))

        def event(self, link_id: int, text: str) -> None:
            pass

    async def main(rt: RecordingRuntime) -> None:
        rt.link_tap = Tap()
        sctx = plain_server_context(pki.server_cert, pki.server_key)
        sctx.num_tickets = 0
        with CountingTlsServer(sctx) as srv:
            await rt.ok(Connect(0, "SSL", "127.0.0.1", srv.port, tls=TlsSettings()))
            link = rt.net.links[0]
            assert isinstance(link, TlsStreamLink)
            wire = await asyncio.to_thread(srv.send, b"one", b"two", b"three")
            await rt.until(lambda: bytes(rt.links.data.get(0, b"")) == b"onetwothree")
            assert rt.links.wire[0] == wire
            assert link.bytes_down == 11 and link.wire_down > wire
            assert [d for k, _, d in seen if k == "down"] != [] and all(
                b"one" in d or b"two" in d or b"three" in d for k, _, d in seen if k == "down"
            )
            link.send(b"ping", None)
            assert ("up", 0, b"ping") in seen and link.bytes_up == 4 and link.wire_up > 4
            link.close()
            await asyncio.to_thread(srv.read_until_closed)
            assert bytes(srv.received) == b"ping" and srv.close_notify

    run(main)
