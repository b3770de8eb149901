"""Error codes of the AT core and the exception commands raise to report them.

With ``AT+SYSLOG=1`` every ``ERROR`` is preceded by ``ERR CODE:0x%08x``; the code is
``0x01SS0000`` where SS is one of the sub-codes below (wire-format doc, "Lines,
echo, results").
"""

from __future__ import annotations

from enum import IntEnum


class ErrCode(IntEnum):
    COMMON = 0x01
    NO_TERMINATOR = 0x02
    NO_AT = 0x03
    PARAM_LENGTH = 0x04
    PARAM_TYPE = 0x05
    PARAM_COUNT = 0x06
    PARAM_INVALID = 0x07
    PARAM_PARSE = 0x08
    UNSUPPORTED = 0x09
    EXEC_FAILED = 0x0A
    BUSY = 0x0B
    OPERATION = 0x0C

    @property
    def wire(self) -> int:
        """The 32-bit value printed after ``ERR CODE:``."""
        return 0x01000000 | (int(self) << 16)


class CommandError(Exception):
    """Raised by a command (or the parser) to answer ``ERROR``.

    ``why`` goes to the module's log (the real module prints such diagnostics on its
    log UART, never on the AT port).
    """

    def __init__(self, code: ErrCode = ErrCode.EXEC_FAILED, why: str = "") -> None:
        super().__init__(why or code.name)
        self.code = code
        self.why = why
