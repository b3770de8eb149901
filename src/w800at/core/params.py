"""The parameter grammar of set commands (``AT+CMD=<p1>,<p2>,...``).

A set command declares its parameters as a tuple of `Param`; `parse_tokens` splits the
text after ``=`` into tokens and `bind` checks them against the declaration, raising
`CommandError` with the sub-code the real module uses:

- a quote that never closes, or bytes after a closing quote -> PARAM_PARSE
- too many parameters, or a required one missing / left empty -> PARAM_COUNT
- a quoted string where a number belongs, or the reverse -> PARAM_TYPE
- a number outside its range, a string not among its choices -> PARAM_INVALID
- a string longer than its limit -> PARAM_LENGTH

The error's extension (the ERR CODE's low 16 bits, `w800at.core.errors`) says which
parameter: its index from 0 for PARSE/TYPE/INVALID/LENGTH, and ``need << 8 | given``
for COUNT, where ``given`` is how many parameters the line has (empty ones count,
as in ESP-AT: ``AT+CWLAPOPT=1,31,,255`` gives 4; nothing after ``=`` gives 0) and
``need`` the most the command takes when there are too many, else the fewest it
takes (up to its last required parameter).  In single-connection mode a `LinkId`
that exists only in multi mode is not counted.

Strings are quoted with ``"``; inside them a backslash escapes the next byte
(``\\"``, ``\\\\``, ``\\,``).  Empty parameters (``8080,,"1.2.3.4"``) mean "not given":
an optional parameter takes its default.  Text is latin-1 so every byte survives.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from .errors import CommandError, ErrCode, count_ext

T = TypeVar("T")
#: the sub-codes whose ERR CODE extension is the parameter's index
_INDEXED = frozenset(
    {ErrCode.PARAM_LENGTH, ErrCode.PARAM_TYPE, ErrCode.PARAM_INVALID, ErrCode.PARAM_PARSE}
)

TokenKind = Literal["empty", "str", "bare"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str


def parse_tokens(text: str) -> list[Token]:
    """Split ``a,"b,c",,7`` into tokens.  ``""`` (nothing after ``=``) is one empty token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise CommandError(ErrCode.PARAM_PARSE, "unterminated string", len(tokens))
                c = text[i]
                if c == "\\" and i + 1 < n:
                    chars.append(text[i + 1])
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                chars.append(c)
                i += 1
            if i < n and text[i] != ",":
                raise CommandError(ErrCode.PARAM_PARSE, "text after closing quote", len(tokens))
            tokens.append(Token("str", "".join(chars)))
        else:
            j = text.find(",", i)
            end = n if j < 0 else j
            piece = text[i:end]
            if '"' in piece:
                raise CommandError(ErrCode.PARAM_PARSE, "stray quote", len(tokens))
            tokens.append(Token("bare", piece) if piece else Token("empty", ""))
            i = end
        if i >= n:
            return tokens
        i += 1  # the comma
        if i >= n:
            tokens.append(Token("empty", ""))
            return tokens


Value = int | str | None


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter.  Build with `Int` or `Str`."""

    name: str
    kind: Literal["int", "str", "any", "link"]
    optional: bool = False
    default: Value = None
    lo: int | None = None
    hi: int | None = None
    max_len: int | None = None
    choices: tuple[str, ...] | None = None
    allowed: tuple[int, ...] | None = None
    #: kind "link": ``max_links`` (every link) is a valid value too
    all_ok: bool = False
    #: kind "link": the parameter exists only in multi-connection mode (AT+CIPMUX=1)
    multi_only: bool = False


def Int(
    name: str,
    lo: int | None = None,
    hi: int | None = None,
    *,
    optional: bool = False,
    default: int | None = None,
    allowed: tuple[int, ...] | None = None,
) -> Param:
    """An integer parameter; ``[lo, hi]`` inclusive, or one of ``allowed``."""
    return Param(name, "int", optional or default is not None, default, lo, hi, None, None, allowed)


def Str(
    name: str,
    max_len: int | None = None,
    *,
    optional: bool = False,
    default: str | None = None,
    choices: tuple[str, ...] | None = None,
) -> Param:
    """A quoted string parameter, at most ``max_len`` bytes, or one of ``choices``."""
    return Param(
        name, "str", optional or default is not None, default, None, None, max_len, choices
    )


def LinkId(
    name: str = "link_id",
    *,
    all_ok: bool = False,
    default_all: bool = False,
    multi_only: bool = True,
) -> Param:
    """A ``<link ID>``: 0 .. max_links-1 of the dialect (the spec's "ID of the
    connection (0 ~ max)"); with ``all_ok`` also ``max_links``, meaning every link.

    ``multi_only``: the parameter is there only in multi-connection mode; in single
    mode the command has no ID (link 0 implied) and the handler sees it as not given.
    ``default_all``: optional, and when omitted it means every link.
    """
    return Param(
        name,
        "link",
        optional=default_all,
        lo=0,
        all_ok=all_ok or default_all,
        multi_only=multi_only,
    )


@dataclass(frozen=True, slots=True)
class LinkScope:
    """What a `LinkId` depends on: the dialect's link count and AT+CIPMUX."""

    max_links: int
    multi: bool


def Any_(name: str) -> Param:
    """An optional parameter of either type (a number, or a quoted string), for commands
    whose later parameters depend on an earlier one (AT+CIPSTART's type): the handler
    binds those itself with `retokenize` + `bind`."""
    return Param(name, "any", True)


def retokenize(values: Sequence[Value]) -> list[Token]:
    """Tokens back from `Any_` values (trailing unset ones dropped), to `bind` again."""
    toks = [
        Token("empty", "")
        if v is None
        else Token("bare", str(v))
        if isinstance(v, int)
        else Token("str", v)
        for v in values
    ]
    while toks and toks[-1].kind == "empty":
        toks.pop()
    return toks


Signature = tuple[Param, ...]


class Args:
    """The bound values of a set command, with typed accessors."""

    __slots__ = ("_count", "_first", "_given", "_sig", "_values")

    def __init__(
        self,
        values: dict[str, Value],
        given: set[str],
        sig: Sequence[Param] = (),
        count: int = 0,
        first: int = 0,
    ) -> None:
        self._values = values
        self._given = given
        self._sig = sig
        self._count = count
        self._first = first

    @property
    def count(self) -> builtins.int:
        """How many parameters the line had (empty ones included)."""
        return self._count

    def index(self, name: builtins.str) -> builtins.int:
        """The position of parameter ``name`` on the line, from 0 (ERR CODE's extension)."""
        for i, p in enumerate(self._sig):
            if p.name == name:
                return self._first + i
        raise KeyError(name)

    def error(self, code: ErrCode, name: builtins.str, why: builtins.str) -> CommandError:
        """A handler's verdict on parameter ``name``: the CommandError to raise, its
        ERR CODE extension the parameter's index."""
        return CommandError(code, why, self.index(name))

    def check(self, name: builtins.str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)``, a check of parameter ``name`` by a helper that does not know
        where the parameter stands: a parameter error it raises gets the index."""
        try:
            return fn(*args)
        except CommandError as exc:
            if exc.ext or exc.code not in _INDEXED:
                raise
            raise self.error(exc.code, name, exc.why) from None

    def count_error(self, need: builtins.int, why: builtins.str) -> CommandError:
        """A handler's PARAM_COUNT verdict: ``need`` parameters, not this many."""
        return CommandError(ErrCode.PARAM_COUNT, why, count_ext(need, self._count))

    def int(self, name: builtins.str) -> builtins.int:
        v = self._values[name]
        if not isinstance(v, int):
            raise KeyError(f"{name} has no integer value")
        return v

    def opt_int(self, name: builtins.str) -> builtins.int | None:
        v = self._values.get(name)
        return v if isinstance(v, int) else None

    def str(self, name: builtins.str) -> builtins.str:
        v = self._values[name]
        if not isinstance(v, str):
            raise KeyError(f"{name} has no string value")
        return v

    def opt_str(self, name: builtins.str) -> builtins.str | None:
        v = self._values.get(name)
        return v if isinstance(v, str) else None

    def given(self, name: builtins.str) -> bool:
        """True when the host wrote this parameter (not omitted, not empty)."""
        return name in self._given

    def __repr__(self) -> builtins.str:
        return f"Args({self._values!r})"


def parse_int(text: str) -> builtins.int | None:
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isdigit() or not body.isascii():
        return None
    return int(text)


def bind(
    sig: Sequence[Param],
    tokens: Sequence[Token],
    links: LinkScope | None = None,
    *,
    first: int = 0,
) -> Args:
    """Check ``tokens`` against ``sig`` and return the values; raise CommandError.

    ``links`` resolves `LinkId` parameters (their range, and whether they exist).
    ``first``: the line position of ``sig``'s first parameter, when a handler binds
    the rest of a line itself (`Any_`); the ERR CODE extensions count from there."""
    if links is not None and not links.multi:
        sig = [p for p in sig if not p.multi_only]
    given_n = 0 if len(tokens) == 1 and tokens[0].kind == "empty" else len(tokens)
    if len(tokens) > len(sig):
        raise CommandError(
            ErrCode.PARAM_COUNT,
            f"{len(tokens)} parameters, at most {len(sig)}",
            count_ext(first + len(sig), first + given_n),
        )
    values: dict[str, Value] = {}
    given: set[str] = set()
    for i, p in enumerate(sig):
        tok = tokens[i] if i < len(tokens) else Token("empty", "")
        if tok.kind == "empty":
            if not p.optional:
                need = max(j for j, q in enumerate(sig) if not q.optional) + 1
                raise CommandError(
                    ErrCode.PARAM_COUNT,
                    f"missing {p.name}",
                    count_ext(first + need, first + given_n),
                )
            values[p.name] = p.default if p.kind != "link" else _link_hi(p, links)
            continue
        given.add(p.name)
        at = first + i
        if p.kind == "any":
            if tok.kind == "bare":
                n = parse_int(tok.text)
                if n is None:
                    raise CommandError(ErrCode.PARAM_TYPE, f"{p.name}: not a number", at)
                values[p.name] = n
            else:
                values[p.name] = tok.text
            continue
        if p.kind == "link":
            p = Param(p.name, "int", lo=0, hi=_link_hi(p, links))
        if p.kind == "int":
            if tok.kind != "bare":
                raise CommandError(ErrCode.PARAM_TYPE, f"{p.name} must be a number", at)
            n = parse_int(tok.text)
            if n is None:
                raise CommandError(
                    ErrCode.PARAM_TYPE, f"{p.name}: {tok.text!r} is not a number", at
                )
            if (p.lo is not None and n < p.lo) or (p.hi is not None and n > p.hi):
                raise CommandError(
                    ErrCode.PARAM_INVALID, f"{p.name}={n} out of [{p.lo},{p.hi}]", at
                )
            if p.allowed is not None and n not in p.allowed:
                raise CommandError(ErrCode.PARAM_INVALID, f"{p.name}={n} not in {p.allowed}", at)
            values[p.name] = n
        else:
            if tok.kind != "str":
                raise CommandError(ErrCode.PARAM_TYPE, f"{p.name} must be a quoted string", at)
            s = tok.text
            if p.max_len is not None and len(s) > p.max_len:
                raise CommandError(ErrCode.PARAM_LENGTH, f"{p.name} longer than {p.max_len}", at)
            if p.choices is not None and s not in p.choices:
                raise CommandError(ErrCode.PARAM_INVALID, f"{p.name}={s!r} not in {p.choices}", at)
            values[p.name] = s
    return Args(
        values, given, sig if isinstance(sig, tuple) else tuple(sig), first + given_n, first
    )


def _link_hi(p: Param, links: LinkScope | None) -> int:
    """The largest value of a `LinkId`: the "every link" ID, or the last link."""
    if links is None:
        raise ValueError(f"{p.name}: a link ID needs a LinkScope to bind")
    return links.max_links if p.all_ok else links.max_links - 1
