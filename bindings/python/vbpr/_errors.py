"""Status codes to exceptions: one class per status under vbpr.Error."""

__all__ = [
    "Error", "InvalidArgumentError", "OutOfMemoryError", "IOError_",
    "ParseError", "OutOfRangeError", "StateError", "UnsupportedError",
    "NumericError", "InterruptedError_", "errcheck", "bind",
]


class Error(Exception):
    """Base of every libvbpr error; .status is the C status code and
    .message the library's last-error text."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidArgumentError(Error, ValueError):
    status = -1


class OutOfMemoryError(Error, MemoryError):
    status = -2


class IOError_(Error, OSError):
    status = -3


class ParseError(Error, ValueError):
    status = -4


class OutOfRangeError(Error, IndexError):
    status = -5


class StateError(Error, RuntimeError):
    status = -6


class UnsupportedError(Error, NotImplementedError):
    status = -7


class NumericError(Error, ArithmeticError):
    status = -8


class InterruptedError_(Error):
    status = -9


_BY_STATUS = {cls.status: cls for cls in (
    InvalidArgumentError, OutOfMemoryError, IOError_, ParseError,
    OutOfRangeError, StateError, UnsupportedError, NumericError,
    InterruptedError_)}

_lib = None


def bind(lib):
    global _lib
    _lib = lib


def raise_for(status):
    msg = _lib.vbpr_last_error().decode(errors="replace")
    cls = _BY_STATUS.get(status, Error)
    raise cls(msg or _lib.vbpr_status_string(status).decode(), status)


def errcheck(result, func, args):
    if result < 0:
        raise_for(result)
    return result
