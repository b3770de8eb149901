"""Error codes of the AT core and the exception commands raise to report them.

With ``AT+SYSLOG=1`` every ``ERROR`` is preceded by ``ERR CODE:0x%08x``; the code is
``0x01SSEEEE``: SS is one of the sub-codes below and EEEE the extension that ESP-AT's
``components/at/include/esp_at_core.h`` defines per sub-code (``ESP_AT_ERROR_NO``):

- PARAM_LENGTH, PARAM_TYPE, PARAM_INVALID, PARAM_PARSE: the index of the parameter
  (``which_para``; counted from 0, as ESP-AT's ``esp_at_get_para_as_*(para_index)``);
- PARAM_COUNT: ``need << 8 | given`` (`count_ext`), e.g. ``0x01060203`` for three
  parameters where two are taken (esp-at issue #540);
- every other sub-code: 0 (EXEC_FAILED's extension is a command-specific result that
  the documentation does not list; we give none).
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


def count_ext(need: int, given: int) -> int:
    """PARAM_COUNT's extension: ``need << 8 | given``, each in its byte."""
    return (min(need, 0xFF) << 8) | min(given, 0xFF)


class CommandError(Exception):
    """Raised by a command (or the parser) to answer ``ERROR``.

    ``why`` goes to the module's log (the real module prints such diagnostics on its
    log UART, never on the AT port).  ``ext`` is the low 16 bits of the ERR CODE (see
    the module docstring): the parser fills it in; a handler that rejects a parameter
    itself gets it from `Args.error`.
    """

    def __init__(self, code: ErrCode = ErrCode.EXEC_FAILED, why: str = "", ext: int = 0) -> None:
        super().__init__(why or code.name)
        self.code = code
        self.why = why
        self.ext = ext & 0xFFFF

    @property
    def wire(self) -> int:
        """The 32-bit value printed after ``ERR CODE:``."""
        return self.code.wire | self.ext
