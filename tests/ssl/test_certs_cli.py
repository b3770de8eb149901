"""``w800at certs``: init/create, list, import, through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tls.peers import make_foreign_pki
from w800at.certs import list_store
from w800at.cli import main


def test_init_creates_dev_pki_and_refuses_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s"
    assert main(["certs", "init", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"development PKI created in {store / 'certs'}" in out.splitlines()[0]
    slots = [i.slot for i in list_store(store)]
    assert slots == ["client 0", "ca 0", "server", "server ca", "dev ca"]
    assert main(["certs", "create", "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("w800at certs: certificate store ")
    assert (
        main(
            [
                "certs",
                "create",
                "--store",
                str(store),
                "--force",
                "--cn",
                "mod.lab",
                "--host",
                "127.0.0.1",
            ]
        )
        == 0
    )
    server = next(i for i in list_store(store) if i.slot == "server")
    assert server.subject_cn == "mod.lab"
    assert server.sans == ("DNS:mod.lab", "IP:127.0.0.1")


def test_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s"
    assert main(["certs", "list", "--store", str(store)]) == 0
    assert capsys.readouterr().out.startswith(f"no certificates in {store / 'certs'} ")
    main(["certs", "init", "--store", str(store)])
    capsys.readouterr()
    assert main(["certs", "list", "--store", str(store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] + " " + ln.split()[1] for ln in lines[:2]] == ["client 0", "ca 0"]
    assert len(lines) == 5
    assert lines[0].startswith("client 0   CN=w800at client 0  until ")
    assert "  CA" in lines[1]


def test_import_slots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s"
    f = make_foreign_pki(tmp_path / "f")
    s = str(store)
    assert (
        main(
            ["certs", "import", "--store", s, "client", "2", str(f.client_cert), str(f.client_key)]
        )
        == 0
    )
    assert capsys.readouterr().out == f"installed into {store / 'certs' / 'client' / '2'}\n"
    assert main(["certs", "import", "--store", s, "ca", "1", str(f.ca)]) == 0
    assert (
        main(["certs", "import", "--store", s, "server", str(f.server_cert), str(f.server_key)])
        == 0
    )
    assert main(["certs", "import", "--store", s, "server-ca", str(f.ca)]) == 0
    capsys.readouterr()
    assert [i.slot for i in list_store(store)] == ["client 2", "ca 1", "server", "server ca"]
    # wrong shapes and bad material
    assert main(["certs", "import", "--store", s, "client", str(f.client_cert)]) == 2
    assert main(["certs", "import", "--store", s, "ca", "1", str(f.ca), str(f.ca)]) == 2
    assert (
        main(
            ["certs", "import", "--store", s, "client", "3", str(f.client_cert), str(f.server_key)]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "does not belong to certificate" in err
    assert [i.slot for i in list_store(store)] == ["client 2", "ca 1", "server", "server ca"]
