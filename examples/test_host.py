"""The host helper (pytest-embedded's ``expect`` style) and the marker's options."""

import socket

import pytest

LAB = {"access_point": [{"ssid": "lab", "password": "lab-secret"}]}


@pytest.mark.w800at(profile="esp-at")
def test_the_esp_at_dialect(w800at):
    host = w800at.host()
    host.expect_exact(b"\r\nready\r\n")  # the module powers up when the port opens
    host.write(b"AT+GMR\r\n")
    m = host.expect(rb"AT version:([\d.]+)\(w800at - (\w+)")  # a regex, as in pytest-embedded
    assert m.groups() == (b"3.4.0.0", b"ESP32")
    host.expect_exact(b"\r\nOK\r\n")


@pytest.mark.w800at(config=LAB, profile="esp-at")  # ESP-AT names the reason: +CWJAP:<code>
def test_a_wrong_password_fails_with_code_2(w800at):
    host = w800at.host()
    host.expect(b"ready")
    assert host.cmd("AT+CWMODE=1").ok
    reply = host.cmd('AT+CWJAP="lab","not-the-password"', timeout=5)
    assert reply.result == "ERROR"
    assert "+CWJAP:2" in reply.lines


@pytest.mark.w800at(config=LAB, transport="memory")
def test_a_link_to_a_loopback_server(w800at):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        host = w800at.host()
        host.expect(b"ready")
        host.cmd("AT+CWMODE=1")
        assert host.cmd('AT+CWJAP="lab","lab-secret"', timeout=5).ok
        assert host.cmd(f'AT+CIPSTART="TCP","127.0.0.1",{port}').ok
        peer, _ = server.accept()
        with peer:
            host.cmd("AT+CIPSEND=5")
            host.expect_exact(b">")
            host.write(b"hello")
            host.expect_exact(b"SEND OK")
            assert peer.recv(5) == b"hello"
            peer.sendall(b"world")
            host.expect_exact(b"+IPD,5:world")
