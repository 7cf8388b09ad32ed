"""Safe XML parsing: no network, no entity expansion, no DTD.

Two layers protect the reader against hostile documents:

1. :func:`check_prolog` reads the bytes before the root element and refuses any
   ``<!DOCTYPE`` that has an internal subset (``[...]``: ENTITY declarations, the
   billion-laughs and XXE attacks) or names an external DTD (``SYSTEM``/``PUBLIC``).
2. :func:`safe_iterparse` runs lxml with ``resolve_entities=False``,
   ``no_network=True``, ``load_dtd=False`` and ``huge_tree=False``; an undefined
   entity reference then is a well-formedness error.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from greentwin.core.errors import InputFileError, UnsafeInputError
from lxml import etree

__all__ = ["check_prolog", "safe_fromstring", "safe_iterparse", "xml_error"]

#: Longest prolog (XML declaration, comments, processing instructions, DOCTYPE) read
#: before giving up; real files have a few kilobytes at most.
MAX_PROLOG_BYTES = 4 * 1024 * 1024
_CHUNK = 64 * 1024
_NAME_START = re.compile(r"[A-Za-z_:\u00c0-\uffff]")
#: The only DOCTYPE let through: a name and nothing else (no external id, no subset).
#: Any whitespace counts (XML 1.0 production S: space, tab, CR, LF).
_BARE_DOCTYPE = re.compile(r"<!DOCTYPE[ \t\r\n]+[^ \t\r\n\[>]+[ \t\r\n]*", re.IGNORECASE)


#: Parser settings of every parse: no entities, no network, no DTD, bounded trees;
#: comments and processing instructions dropped; no recovery from broken XML.
_SAFE_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "recover": False,
}


def _decoder_for(head: bytes) -> codecs.IncrementalDecoder:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return codecs.getincrementaldecoder("utf-16")("replace")
    if head.startswith(b"<\x00?\x00"):
        return codecs.getincrementaldecoder("utf-16-le")("replace")
    if head.startswith(b"\x00<\x00?"):
        return codecs.getincrementaldecoder("utf-16-be")("replace")
    return codecs.getincrementaldecoder("utf-8-sig")("replace")


def check_prolog(path: Path) -> None:
    """Refuse documents whose prolog declares a DTD with content or an external DTD.

    Parameters
    ----------
    path : the XML file.

    Raises
    ------
    UnsafeInputError
        DOCTYPE with an internal subset (entity declarations) or an external DTD.
    InputFileError
        The file cannot be read, is empty, or has no root element within
        :data:`MAX_PROLOG_BYTES`.

    Notes
    -----
    Reads only the bytes up to the root element's ``<`` (usually well under 64 KiB).
    """
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputFileError(f"cannot open {path}: {exc.strerror or exc}") from exc
    with fh:
        raw = fh.read(_CHUNK)
        if not raw.strip():
            raise InputFileError(f"{path} is empty; expected a CityGML document")
        decoder = _decoder_for(raw[:4])
        buf = decoder.decode(raw)
        consumed = len(raw)
        eof = False

        def read_more() -> None:
            nonlocal buf, consumed, eof
            if consumed >= MAX_PROLOG_BYTES:
                raise InputFileError(
                    f"{path}: no root element in the first {MAX_PROLOG_BYTES} bytes; "
                    "not a CityGML document?"
                )
            chunk = fh.read(_CHUNK)
            consumed += len(chunk)
            if not chunk:
                eof = True
                buf += decoder.decode(b"", final=True)
            else:
                buf += decoder.decode(chunk)

        pos = 0
        while True:
            lt = buf.find("<", pos)
            if lt < 0 or (len(buf) - lt < 10 and not eof):
                if eof:
                    raise InputFileError(f"{path}: no XML root element found; not XML?")
                read_more()
                continue
            if buf.startswith("<?", lt) or buf.startswith("<!--", lt):
                closer = "?>" if buf[lt + 1] == "?" else "-->"
                end = buf.find(closer, lt + 2)
                if end < 0:
                    if eof:
                        raise InputFileError(f"{path}: unterminated XML prolog; truncated file?")
                    read_more()
                    continue
                pos = end + len(closer)
                continue
            if buf[lt : lt + 9].upper() == "<!DOCTYPE":
                end = buf.find(">", lt)
                if end < 0:
                    if eof:
                        raise InputFileError(f"{path}: unterminated DOCTYPE; truncated file?")
                    read_more()
                    continue
                decl = buf[lt:end]
                if not _BARE_DOCTYPE.fullmatch(decl):  # SYSTEM/PUBLIC ids or a subset
                    _refuse_doctype(path, buf[lt:])
                pos = end + 1  # a bare <!DOCTYPE name> is harmless
                continue
            if _NAME_START.match(buf[lt + 1 : lt + 2]):
                return
            raise InputFileError(f"{path}: not a well-formed XML document; not CityGML?")


def _refuse_doctype(path: Path, doctype: str) -> None:
    snippet = doctype[:80].replace("\n", " ")
    if "ENTITY" in doctype.upper():
        why = "it declares entities (XML entity expansion / external entity attack)"
    elif "[" in doctype[:200]:
        why = "it has an internal DTD subset"
    else:
        why = "it refers to an external DTD"
    raise UnsafeInputError(
        f"{path}: refused to read the document: its DOCTYPE {snippet!r} is not allowed "
        f"because {why}. CityGML needs no DTD; remove the DOCTYPE if the file is trusted."
    )


def xml_error(path: Path, exc: etree.XMLSyntaxError | etree.LxmlError) -> Exception:
    """Map an lxml error to InputFileError / UnsafeInputError with a clear message."""
    msg = str(getattr(exc, "msg", None) or exc)
    lineno = getattr(exc, "lineno", None)
    last = _last_error(exc)
    if last is not None and (not lineno or msg == "no element found"):
        # iterparse reports a fatal error seen while reading ahead as "no element
        # found" at line 0; the error log holds the real one (e.g. an undefined entity)
        msg, lineno = last
    where = f" at line {lineno}" if isinstance(lineno, int) else ""
    low = msg.lower()
    if "entity" in low and ("amplification" in low or "loop" in low or "huge" in low):
        return UnsafeInputError(f"{path}: refused{where}: {msg}")
    if "entity" in low and ("not defined" in low or "undeclared" in low):
        return InputFileError(
            f"{path}: not well-formed XML{where}: {msg}. CityGML needs no entities but the "
            "five predefined ones (&amp; &lt; &gt; &quot; &apos;); write the character itself"
        )
    if "premature end" in low or "extra content" in low or "not closed" in low or "eof" in low:
        return InputFileError(
            f"{path}: the XML is truncated or malformed{where}: {msg}. "
            "Features before that point were read; the file must be complete to convert it."
        )
    return InputFileError(f"{path}: not well-formed XML{where} (truncated or corrupt file?): {msg}")


def _last_error(exc: etree.LxmlError) -> tuple[str, int] | None:
    """(message, line) of the last error in an lxml error's log, if any (the log may
    also hold errors of earlier parses in this thread)."""
    for entry in reversed(list(getattr(exc, "error_log", None) or ())):
        if entry.level >= etree.ErrorLevels.ERROR and entry.message:
            return (
                f"{entry.message.strip()} (column {entry.column})",
                int(entry.line),
            )
    return None


def safe_iterparse(
    path: Path | IO[bytes],
    *,
    events: Sequence[str] = ("end",),
    tag: Sequence[str] | None = None,
    remove_blank_text: bool = False,
) -> Iterator[tuple[str, Any]]:
    """lxml ``iterparse`` with every network, DTD and entity feature switched off.

    Parameters
    ----------
    path : the XML file (or a binary stream); :func:`check_prolog` should have passed.
    events, tag : as for :func:`lxml.etree.iterparse`.
    remove_blank_text : drop whitespace-only text between elements (indentation); the
        tree is smaller and faster to build. Text of elements without children stays.
    """
    return etree.iterparse(  # type: ignore[no-any-return]
        str(path) if isinstance(path, Path) else path,
        events=tuple(events),
        tag=tuple(tag) if tag is not None else None,
        remove_blank_text=remove_blank_text,
        **_SAFE_OPTIONS,
    )


def safe_fromstring(data: bytes, *, remove_blank_text: bool = False) -> Any:
    """Parse a whole (small) document with the settings of :func:`safe_iterparse`.

    Returns the root element; raises :class:`lxml.etree.XMLSyntaxError` as lxml does.
    """
    parser = etree.XMLParser(
        remove_blank_text=remove_blank_text,
        **_SAFE_OPTIONS,
    )
    return etree.fromstring(data, parser)
