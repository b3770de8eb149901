"""``w800at certs``: manage the module's TLS certificate store from the shell.

    w800at certs init [--cn NAME] [--host H ...] [--force]   dev CA + server + client cert
    w800at certs list                                        what is installed, per slot
    w800at certs import client 0 CERT.pem KEY.pem            a user's PEM files into a slot
    w800at certs import ca 0 CA.pem
    w800at certs import server CERT.pem KEY.pem
    w800at certs import server-ca CA.pem

``create`` is an alias of ``init``.  Every subcommand takes ``--store DIR`` (default: the
same directory ``w800at serve`` uses).  The layout and the validation rules live in
`w800at.certs`; this module only parses arguments and prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .certs import (
    DEFAULT_HOSTS,
    CertInfo,
    CertStoreError,
    certs_dir,
    create_dev_pki,
    import_pem,
    list_store,
)
from .store import default_store_dir

_KINDS = ("client", "ca", "server", "server-ca")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "certs",
        help="manage the TLS certificate store",
        description="Manage the module's TLS certificates (pki / ca slots, "
        "the SSL server identity).",
    )
    verbs = p.add_subparsers(dest="certs_verb", required=True)
    for name in ("init", "create"):
        i = verbs.add_parser(
            name,
            help="make a development CA, server and client certificate"
            + (" (alias of init)" if name == "create" else ""),
        )
        _store_arg(i)
        i.add_argument("--cn", default="w800at.local", help="server certificate name")
        i.add_argument(
            "--host",
            action="append",
            metavar="NAME_OR_IP",
            help=f"extra server subjectAltName (repeatable; default: {', '.join(DEFAULT_HOSTS)})",
        )
        i.add_argument("--force", action="store_true", help="replace existing slots")
        i.set_defaults(handler=_init)
    ls = verbs.add_parser("list", help="show the installed certificates")
    _store_arg(ls)
    ls.set_defaults(handler=_list)
    im = verbs.add_parser(
        "import",
        help="install PEM files into a slot",
        description="client N CERT KEY | ca N CA | server CERT KEY | server-ca CA",
    )
    _store_arg(im)
    im.add_argument("kind", choices=_KINDS, help="which slot")
    im.add_argument(
        "files", nargs="+", metavar="ARG", help="[N] CERT.pem [KEY.pem] (N for client and ca slots)"
    )
    im.set_defaults(handler=_import)


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help=f"the module's store directory (default: {default_store_dir()})",
    )


def _store(args: argparse.Namespace) -> Path:
    return Path(args.store) if args.store is not None else default_store_dir()


def _init(args: argparse.Namespace) -> int:
    out = sys.stdout
    store = _store(args)
    hosts = tuple(args.host) if args.host else DEFAULT_HOSTS
    try:
        pki = create_dev_pki(store, cn=args.cn, hosts=hosts, overwrite=args.force)
    except CertStoreError as exc:
        print(f"w800at certs: {exc}", file=sys.stderr)
        return 1
    print(f"development PKI created in {certs_dir(store)}", file=out)
    print(f"  CA (ca 0, server ca): {pki.ca_cert}", file=out)
    print(f"  server:               {pki.server.cert}", file=out)
    print(f"  client (pki 0):       {pki.client.cert}", file=out)
    print("peers trust the CA file; AT+CIPSSLCCONF=3,0,0 uses client 0 and ca 0", file=out)
    return 0


def _fmt(info: CertInfo) -> str:
    if info.error is not None:
        return f"{info.slot:<10} {info.path}: ERROR {info.error}"
    until = info.not_after.date().isoformat() if info.not_after else "?"
    bits = [f"{info.slot:<10} CN={info.subject_cn!s}", f"until {until}"]
    if info.is_ca:
        bits.append("CA")
    if info.sans:
        bits.append("SAN " + ",".join(info.sans))
    if info.key_matches is False:
        bits.append("KEY MISSING OR MISMATCHED")
    return "  ".join(bits)


def _list(args: argparse.Namespace) -> int:
    out = sys.stdout
    store = _store(args)
    infos = list_store(store)
    if not infos:
        print(
            f"no certificates in {certs_dir(store)} "
            "(the SSL server makes a self-signed one when first started; "
            "`w800at certs init` makes a development PKI)",
            file=out,
        )
        return 0
    for info in infos:
        print(_fmt(info), file=out)
    return 0


def _import(args: argparse.Namespace) -> int:
    out = sys.stdout
    kind: str = args.kind
    files: list[str] = list(args.files)
    index: int | None = None
    if kind in ("client", "ca"):
        if not files or not files[0].isdigit():
            print(f"w800at certs: import {kind} needs a slot number first", file=sys.stderr)
            return 2
        index = int(files.pop(0))
    want = 2 if kind in ("client", "server") else 1
    if len(files) != want:
        what = "CERT.pem KEY.pem" if want == 2 else "CA.pem"
        print(f"w800at certs: import {kind} takes {what}", file=sys.stderr)
        return 2
    key = Path(files[1]) if want == 2 else None
    try:
        folder = import_pem(_store(args), kind, index, Path(files[0]), key)  # type: ignore[arg-type]
    except CertStoreError as exc:
        print(f"w800at certs: {exc}", file=sys.stderr)
        return 1
    print(f"installed into {folder}", file=out)
    return 0
