from __future__ import annotations

from pathlib import Path

import pytest

from w800at.certs import DevPki, create_dev_pki

from .peers import ForeignPki, make_foreign_pki


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A module store with the development PKI: client 0, ca 0, server (+ server ca)."""
    path = tmp_path / "store"
    create_dev_pki(path)
    return path


@pytest.fixture
def dev(store: Path) -> DevPki:
    from w800at.certs import ca_path, client_pki_paths, server_identity_paths

    return DevPki(
        ca_cert=store / "certs" / "dev-ca" / "cert.pem",
        ca_key=store / "certs" / "dev-ca" / "key.pem",
        client=client_pki_paths(store, 0),
        ca=ca_path(store, 0),
        server=server_identity_paths(store),
    )


@pytest.fixture
def foreign(tmp_path: Path) -> ForeignPki:
    """A second CA, unrelated to the store's, and certificates it signed."""
    return make_foreign_pki(tmp_path / "foreign")
