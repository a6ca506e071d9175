"""Scalar literals of the text format: numbers and escaped strings, decoded the way
protobuf's Python ``text_format`` (what AMCT runs) decodes them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_DEC = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_OCT = re.compile(r"0[0-7]+\Z")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+\Z")
_FLOAT = re.compile(
    r"(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)[fF]?\Z"
    r"|[0-9]+[fF]\Z"
)
# protobuf's ParseFloat refuses a leading zero followed by digits ("01.5", "00").
_OCTAL_FLOAT = re.compile(r"0[0-9]+")
_INF = re.compile(r"inf(?:inity)?f?\Z", re.IGNORECASE)
_NAN = re.compile(r"nanf?\Z", re.IGNORECASE)

# Any of the four: what parse_number accepts, in one match.
_NUMBER = re.compile("|".join(f"(?:{p.pattern})" for p in (_DEC, _HEX, _OCT, _FLOAT)))

BOOL_WORDS: dict[str, bool] = {
    "true": True,
    "t": True,
    "True": True,
    "1": True,
    "false": False,
    "f": False,
    "False": False,
    "0": False,
}


@dataclass(frozen=True)
class Number:
    """A number token: ``is_int`` for decimal/octal/hex integers (``value`` is an int)."""

    value: int | float
    is_int: bool


#: Decimal integers longer than this are not converted (Python refuses beyond 4,300 digits,
#: and it would cost quadratic time): they stand for ±10**_MAX_DIGITS, which is beyond every
#: integer type and compares the same way with every bound a check uses.
_MAX_DIGITS = 1000
_HUGE = 10**_MAX_DIGITS


def parse_number(text: str, negative: bool = False) -> Number | None:
    """Decode a NUMBER token (without sign); None when it is no number at all."""
    sign = -1 if negative else 1
    if _DEC.match(text):
        return Number(sign * (int(text) if len(text) <= _MAX_DIGITS else _HUGE), True)
    if _HEX.match(text):
        return Number(sign * int(text, 16), True)
    if _OCT.match(text):
        return Number(sign * int(text, 8), True)
    if _FLOAT.match(text):
        return Number(sign * float(text.rstrip("fF")), False)
    return None


def is_spec_number(text: str) -> bool:
    """Whether *text* is a number literal of the text format specification (what every
    protobuf parser reads): ``parse_number(text) is not None``, without decoding."""
    return _NUMBER.match(text) is not None and not (_OCTAL_FLOAT.match(text) and _FLOAT.match(text))


# protobuf's Python text_format (what AMCT runs) reads numbers with Python's int() and
# float(): it also takes what the specification does not ('1_000', '0b11', '0o17').
_C_OCTAL = re.compile(r"(-?)0(\d+)\Z")
#: what Python's int(text, 0) reads (underscores between digits, base prefixes)
_PY_INT = re.compile(
    r"[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|[1-9](?:_?[0-9])*|0(?:_?0)*)\Z"
)
_PY_OCTAL_FLOAT = re.compile(r"-?0[0-9]+")
_PY_INF = re.compile(r"-?inf(?:inity)?f?\Z", re.IGNORECASE)


def python_int(token: str) -> int | None:
    """The integer protobuf's Python parser reads from *token* (sign included), or None
    (its ``_ParseAbstractInteger``: C octal, then ``int(token, 0)``)."""
    m = _C_OCTAL.match(token)
    text = f"{m[1]}0o{m[2]}" if m else token
    if len(text) > _MAX_DIGITS + 3:  # (see _MAX_DIGITS) a sign, a base prefix, then the digits
        return (-_HUGE if text.startswith("-") else _HUGE) if _PY_INT.match(text) else None
    try:
        return int(text, 0)
    except ValueError:  # not an integer
        return None


def python_float(token: str) -> float | None:
    """The float protobuf's Python parser reads from *token* (sign included), or None (its
    ``ParseFloat``: no leading-zero decimals, Python's float(), inf/nan spellings, an ``f``
    suffix)."""
    if _PY_OCTAL_FLOAT.match(token):
        return None
    try:
        return float(token)
    except ValueError:
        pass
    if _PY_INF.match(token):
        return -math.inf if token.startswith("-") else math.inf
    if _NAN.match(token):
        return math.nan
    try:
        return float(token.rstrip("fF"))
    except ValueError:
        return None


def is_number(text: str) -> bool:
    """Whether protobuf's Python parser reads the NUMBER token *text* as a number of some
    type (an integer or a float)."""
    return is_spec_number(text) or python_int(text) is not None or python_float(text) is not None


def number_problem(text: str) -> str:
    """Why the NUMBER token *text* is no number, in the user's terms."""
    if text.isdigit() and text.startswith("0"):
        return (
            f"'{text}' is not a number: a leading 0 makes it octal, and octal has no digit 8 or 9; "
            f"write {text.lstrip('0') or '0'}"
        )
    if _OCTAL_FLOAT.match(text) and (_FLOAT.match(text) or _PY_OCTAL_FLOAT.match(text)) and not _OCT.match(text):
        plain = text.lstrip("0") or "0"
        plain = "0" + plain if plain.startswith(".") else plain
        return (
            f"'{text}' is not a number: a number with a fraction or exponent cannot start with 0 "
            f"and another digit (protobuf reads a leading 0 as octal); write {plain}"
        )
    return f"'{text}' is not a number"


def float_value(text: str, negative: bool, is_identifier: bool) -> float | None:
    """The value protobuf gives a float field for this token, or None if it refuses it.

    Accepts integers, floats, ``1.5f``, ``inf``/``infinity``/``nan`` in any case.
    """
    if is_identifier:
        if _INF.match(text):
            return -math.inf if negative else math.inf
        if _NAN.match(text):
            return math.nan
        return None
    if _OCTAL_FLOAT.match(text) and not _HEX.match(text):
        return None
    number = parse_number(text, negative)
    if number is None:
        return None
    try:
        return float(number.value)
    except OverflowError:  # an integer beyond float's range: protobuf's float() gives infinity
        return math.inf if number.value > 0 else -math.inf


_SIMPLE_ESCAPES = {
    "n": b"\n",
    "t": b"\t",
    "r": b"\r",
    "a": b"\a",
    "b": b"\b",
    "f": b"\f",
    "v": b"\v",
    "\\": b"\\",
    "'": b"'",
    '"': b'"',
    "?": b"?",
}
_HEX_ESCAPES = {"x": "one or two hex digits", "u": "four hex digits", "U": "eight hex digits"}
_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.)|\Z)")


class EscapeError(ValueError):
    """An invalid escape; ``offset`` is relative to the start of the body."""

    def __init__(self, message: str, offset: int, length: int) -> None:
        super().__init__(message)
        self.offset = offset
        self.length = length


def unescape(body: str, lenient: list[tuple[int, int, str]] | None = None) -> bytes:
    """Decode the body of a quoted string (between the quotes) to bytes, C-style.

    Raises :class:`EscapeError` for a code point out of range, and for an unknown escape
    (``\\q``) unless *lenient* is a list: protobuf's Python parser (AMCT's) keeps such an
    escape as it is written, so it is decoded that way and ``(offset, length, message)``
    is added to *lenient* for a warning.
    """
    if "\\" not in body:
        return body.encode("utf-8", "surrogateescape")
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(body):
        out += body[pos : m.start()].encode("utf-8", "surrogateescape")
        pos = m.end()
        octal, hex2, u4, u8, simple = m.groups()
        if octal is not None:
            value = int(octal, 8)
            if value > 255:
                raise EscapeError(f"octal escape '\\{octal}' is above \\377", m.start(), len(m[0]))
            out.append(value)
        elif hex2 is not None:
            out.append(int(hex2, 16))
        elif u4 is not None or u8 is not None:
            code = int(u4 or u8, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise EscapeError(f"'{m[0]}' is not a valid Unicode code point", m.start(), len(m[0]))
            out += chr(code).encode("utf-8")
        elif simple is not None and simple in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[simple]
        elif simple in _HEX_ESCAPES:  # `\x` without a hex digit, `\u12`: protobuf refuses them
            raise EscapeError(
                f"'\\{simple}' is a truncated escape: it takes {_HEX_ESCAPES[simple]} (write '\\\\{simple}' "
                "for a backslash and the letter)",
                m.start(),
                len(m[0]),
            )
        elif simple is not None and lenient is not None:
            lenient.append(
                (
                    m.start(),
                    len(m[0]),
                    f"'{m[0]}' is no escape: protobuf's Python parser (AMCT's) keeps it "
                    f"as the two characters '{m[0]}', C++ and other parsers refuse it; "
                    f"write '\\\\{simple}' for a backslash",
                )
            )
            out += m[0].encode("utf-8", "surrogateescape")
        else:
            shown = m[0] if simple is not None else "\\"
            raise EscapeError(f"unknown escape '{shown}' (use \\\\ for a backslash)", m.start(), len(m[0]) or 1)
    out += body[pos:].encode("utf-8", "surrogateescape")
    return bytes(out)
