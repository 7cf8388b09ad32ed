"""JSON at the server's boundary: one strict decoder for every inbound body and frame, one
shape for every JSON error answer.

:func:`loads` is what every HTTP route that reads a JSON body and the WebSocket use. It
refuses, with :class:`JsonInputError` (answered as ``bad_json``), what Python's ``json``
module would let through but nothing downstream can use:

- ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON at all, RFC 8259 section 6), and
  numbers whose value overflows a double to infinity (``1e999``);
- integers beyond +-(2**53 - 1), the range every JSON implementation represents exactly
  (I-JSON, RFC 7493 section 2.2), which also keeps them inside SQLite's 64-bit integers;
- documents nested deeper than :data:`MAX_DEPTH` levels (deeper ones would otherwise end
  in a ``RecursionError`` somewhere between the parser and the schema validator);
- strings that cannot be encoded as UTF-8 (lone surrogates such as ``"\\ud800"``).

Errors of every JSON route have the one shape built by :func:`error_payload`:
``{"error": {"status", "code", "message"}}``. A handler raises :class:`JsonError` (an
``HTTPException`` whose body already has that shape, so it is right with or without the
application's error middleware); the middleware builds the same shape for every other error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "JsonError",
    "JsonInputError",
    "error_payload",
    "error_response",
    "loads",
    "status_code",
]

#: Deepest nesting accepted (objects and arrays); every message of the protocol needs < 10.
MAX_DEPTH: Final = 64
#: Largest magnitude of an integer accepted (I-JSON's exactly representable range).
MAX_INT: Final = 2**53 - 1

#: The ``code`` of an error answered with an HTTP status and no more specific code.
_STATUS_CODES: Final[Mapping[int, str]] = {
    400: "bad_request",
    401: "forbidden",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_op",
    429: "rate_limited",
}


class JsonInputError(ValueError):
    """The input is not acceptable JSON; ``code`` is the protocol's ``bad_json``."""

    code: Final = "bad_json"


def _constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not a number JSON allows: send finite numbers only")


def _leaf(value: Any) -> None:
    """Refuse an out-of-range number or a string that UTF-8 cannot hold."""
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise JsonInputError(
                    "a string holds a lone surrogate (not encodable as UTF-8)"
                ) from None
    elif isinstance(value, float):
        if value in _INFINITIES:
            raise JsonInputError("a number is out of range (it overflows to infinity)")
    elif (
        isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT <= value <= MAX_INT
    ):
        text = str(value)
        raise JsonInputError(
            f"integer {text[:40]}{'...' if len(text) > 40 else ''} is out of range "
            f"(at most {MAX_INT} in magnitude)"
        )


_INFINITIES: Final = (math.inf, -math.inf)


def _check_tree(value: Any) -> None:
    """Depth, number and string checks, iteratively (a deep document must not recurse)."""
    if not isinstance(value, dict | list):
        _leaf(value)
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JsonInputError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key in item:
                if not key.isascii():
                    _leaf(key)
            children = item.values()
        else:
            children = item
        for child in children:
            if isinstance(child, dict | list):
                if child:
                    stack.append((child, depth + 1))
                elif depth + 1 > MAX_DEPTH:
                    raise JsonInputError(f"nested deeper than {MAX_DEPTH} levels")
            elif child is not None and child is not True and child is not False:
                _leaf(child)


def loads(data: str | bytes | bytearray) -> Any:
    """Decode one JSON document strictly (the rules are in the module docstring).

    Raises
    ------
    JsonInputError
        With a message naming the problem (syntax error and position, non-finite or
        out-of-range number, nesting, encoding).
    """
    try:
        value = json.loads(data, parse_constant=_constant)
    except JsonInputError:
        raise
    except RecursionError:
        raise JsonInputError(f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:  # JSONDecodeError, int() digit limits
        raise JsonInputError(f"not valid JSON: {exc}") from None
    _check_tree(value)
    return value


# --- errors -------------------------------------------------------------------------------


def status_code(status: int) -> str:
    """The error ``code`` for an HTTP status that comes without one."""
    return _STATUS_CODES.get(status, "internal" if status >= 500 else "bad_request")


def error_payload(status: int, code: str, message: str) -> dict[str, Any]:
    """The body of every JSON error: ``{"error": {"status", "code", "message"}}``."""
    return {"error": {"status": status, "code": code, "message": message}}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON error response (not cached)."""
    return web.json_response(
        error_payload(status, code, message),
        status=status,
        reason=_reason(status),
        headers={"Cache-Control": "no-store", **(headers or {})},
        dumps=lambda o: json.dumps(o, ensure_ascii=False),
    )


class JsonError(web.HTTPException):
    """Raise to answer a JSON error with an explicit ``code``.

    Parameters
    ----------
    status : the HTTP status (400 to 599).
    code : the machine-readable code (the protocol's codes where one fits).
    message : for people.
    """

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.status_code = status
        super().__init__(
            headers={"Cache-Control": "no-store", **(headers or {})},
            reason=_reason(status),
            text=json.dumps(error_payload(status, code, message), ensure_ascii=False),
            content_type="application/json",
        )
        self.code = code
        self.message = message
        self.extra_headers: dict[str, str] = dict(headers or {})
