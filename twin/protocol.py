"""The ``greentwin/1`` live protocol: message shapes, schema validation, error codes.

The JSON Schema (``protocol.schema.json``, shipped in this package) is the single
source of truth for message shapes; ``docs/protocol.md`` explains it. Each message
type and each edit op has a ``$defs`` entry; the validators for them are compiled
once, on first use.

Binary frames (server to client only) carry one glb payload::

    b"GTB1" | uint32 LE header length n | n bytes UTF-8 JSON header, space padded
    to a multiple of 4 | header["byte_length"] bytes of glb
"""

from __future__ import annotations

import json
import struct
from functools import cache
from importlib import resources
from typing import Any, Final, Literal, NotRequired, TypedDict, get_args

from greentwin.core import ProtocolError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

__all__ = [
    "CLIENT_TYPES",
    "ERROR_CODES",
    "GLB_MAGIC",
    "OP_NAMES",
    "PROTOCOL",
    "SERVER_TYPES",
    "ErrorCode",
    "LayerInfo",
    "MessageError",
    "Role",
    "ScenarioTime",
    "decode_glb_frame",
    "encode_glb_frame",
    "load_schema",
    "validate_message",
    "validate_op",
]

PROTOCOL: Final = "greentwin/1"
GLB_MAGIC: Final = b"GTB1"

Role = Literal["viewer", "citizen", "planner", "admin"]
#: Roles in increasing order of privilege.
ROLES: Final[tuple[Role, ...]] = ("viewer", "citizen", "planner", "admin")

ErrorCode = Literal[
    "bad_json",
    "schema",
    "too_large",
    "rate_limited",
    "forbidden",
    "unknown_scenario",
    "invalid_op",
    "conflict",
    "resync",
    "internal",
]
ERROR_CODES: Final[frozenset[str]] = frozenset(get_args(ErrorCode))

CLIENT_TYPES: Final = frozenset(
    {"hello", "subscribe", "unsubscribe", "edit", "undo", "redo", "set_time", "ping", "request_glb"}
)
SERVER_TYPES: Final = frozenset(
    {"welcome", "snapshot", "update", "ack", "error", "unsubscribed", "time", "pong", "glb"}
    | {"comment", "comment_hidden", "votes"}  # the planning hub's messages (docs/hub.md)
)
OP_NAMES: Final = (
    "plant_tree",
    "remove_tree",
    "replace_tree",
    "prune_tree",
    "set_green_area",
    "remove_green_area",
    "set_road_traffic",
    "close_road",
    "add_barrier",
    "remove_barrier",
    "add_building",
    "remove_building",
    "add_road",
    "set_oneway",
)


def role_at_least(role: str, needed: Role) -> bool:
    """Whether ``role`` is ``needed`` or above (viewer < citizen < planner < admin)."""
    names: tuple[str, ...] = ROLES
    return role in names and names.index(role) >= names.index(needed)


# --- message shapes -------------------------------------------------------------


class ScenarioTime(TypedDict):
    """Time of year shown by clients: ``year`` and ``date`` (``MM-DD``)."""

    year: int
    date: str


class LayerInfo(TypedDict):
    """One published layer version: an immutable URL and its version number."""

    url: str
    version: int
    kind: NotRequired[str]
    #: the same content in another encoding, e.g. ``{"baked": {"url", "version"}}``
    variants: NotRequired[dict[str, dict[str, Any]]]


class ChangeSummary(TypedDict):
    """What one op changed: the op name, the object id and counts of affected things."""

    op: str
    id: str | None
    affected: dict[str, int]
    undone: NotRequired[bool]
    error: NotRequired[str]
    traffic: NotRequired[list[dict[str, Any]]]  # roads the re-assignment changed


class ResumeInfo(TypedDict):
    scenario: str
    epoch: str
    seq: int


class HelloMsg(TypedDict):
    type: Literal["hello"]
    protocol: str
    role: NotRequired[Role]
    token: NotRequired[str]
    resume: NotRequired[ResumeInfo]


class EditMsg(TypedDict):
    type: Literal["edit"]
    ref: str
    scenario: str
    op: dict[str, Any]
    base_seq: NotRequired[int]


class Limits(TypedDict):
    max_frame_bytes: int
    hard_frame_bytes: int
    rate_per_s: float
    burst: int
    send_queue: int
    heartbeat_s: float
    hello_timeout_s: float
    retain: int


class WelcomeMsg(TypedDict):
    type: Literal["welcome"]
    protocol: str
    session: str
    epoch: str
    role: Role
    server_version: str
    limits: Limits
    extent: NotRequired[dict[str, float]]  # west, south, east, north (degrees)
    origin: NotRequired[dict[str, float]]  # lon, lat (degrees), height (m, ellipsoid)


class SnapshotMsg(TypedDict):
    type: Literal["snapshot"]
    scenario: str
    seq: int
    epoch: str
    name: str
    status: str
    parent: str | None
    time: ScenarioTime
    layers: dict[str, LayerInfo]
    ref: NotRequired[str]


class UpdateMsg(TypedDict):
    type: Literal["update"]
    scenario: str
    seq: int
    kind: Literal["edit", "undo", "redo"]
    author: str
    changes: list[ChangeSummary]
    layers: dict[str, LayerInfo]


class AckMsg(TypedDict):
    type: Literal["ack"]
    ref: str
    scenario: str
    seq: int
    duplicate: NotRequired[bool]


class ErrorMsg(TypedDict):
    type: Literal["error"]
    code: ErrorCode
    message: str
    ref: NotRequired[str]
    scenario: NotRequired[str]
    seq: NotRequired[int]


class GlbHeader(TypedDict):
    type: Literal["glb"]
    ref: str
    kind: Literal["tree", "building"]
    lod: int
    byte_length: int


class MessageError(ProtocolError):
    """A message broke the protocol; ``code`` is the ``error`` frame's code."""

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.ref = ref


def error_msg(
    code: ErrorCode, message: str, ref: str | None = None, scenario: str | None = None
) -> ErrorMsg:
    """Build an ``error`` frame."""
    msg: ErrorMsg = {"type": "error", "code": code, "message": message}
    if ref is not None:
        msg["ref"] = ref
    if scenario is not None:
        msg["scenario"] = scenario
    return msg


# --- schema ------------------------------------------------------------------------


@cache
def load_schema() -> dict[str, Any]:
    """The protocol's JSON Schema (draft 2020-12) as shipped in this package."""
    text = resources.files("greentwin.twin").joinpath("protocol.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = load_schema()
    if name not in schema["$defs"]:
        raise KeyError(name)
    sub = {
        "$schema": schema["$schema"],
        "$defs": schema["$defs"],
        "$ref": f"#/$defs/{name}",
    }
    return Draft202012Validator(sub)


def _describe(err: Any) -> str:
    where = "/".join(str(p) for p in err.absolute_path)
    return f"{where or '(message)'}: {err.message}"


def validate_message(msg: Any, direction: Literal["client", "server"]) -> None:
    """Check one decoded message against the schema.

    Raises
    ------
    MessageError
        code ``schema`` naming the first offending field.
    """
    if not isinstance(msg, dict):
        raise MessageError("schema", "a message must be a JSON object")
    ref = msg.get("ref") if isinstance(msg.get("ref"), str) else None
    kind = msg.get("type")
    allowed = CLIENT_TYPES if direction == "client" else SERVER_TYPES
    if not isinstance(kind, str) or kind not in allowed:
        raise MessageError("schema", f"type: expected one of {sorted(allowed)}, got {kind!r}", ref)
    err = best_match(_validator(kind).iter_errors(msg))
    if err is not None:
        raise MessageError("schema", f"{kind}: {_describe(err)}", ref)


def validate_op(op: Any) -> str:
    """Check one edit op's fields, types and ranges; returns the op name.

    Raises
    ------
    MessageError
        code ``invalid_op`` naming the field and the allowed range.
    """
    if not isinstance(op, dict) or op.get("op") not in OP_NAMES:
        raise MessageError("invalid_op", f"op: expected one of {list(OP_NAMES)}")
    name: str = op["op"]
    err = best_match(_validator(f"op_{name}").iter_errors(op))
    if err is not None:
        raise MessageError("invalid_op", f"{name}: {_describe(err)}")
    return name


# --- binary glb frames ---------------------------------------------------------------


def encode_glb_frame(header: GlbHeader, glb: bytes) -> bytes:
    """Pack a glb payload behind its JSON header (layout in the module docstring)."""
    if header["byte_length"] != len(glb):
        raise ProtocolError("glb header byte_length does not match the payload")
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 4)
    return GLB_MAGIC + struct.pack("<I", len(head)) + head + glb


def decode_glb_frame(frame: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a binary frame into its header (dict) and glb bytes."""
    if len(frame) < 8 or frame[:4] != GLB_MAGIC:
        raise ProtocolError("not a greentwin/1 binary frame (magic GTB1 missing)")
    (n,) = struct.unpack_from("<I", frame, 4)
    if 8 + n > len(frame):
        raise ProtocolError("binary frame truncated inside its header")
    header: dict[str, Any] = json.loads(frame[8 : 8 + n])
    body = frame[8 + n :]
    if header.get("byte_length") != len(body):
        raise ProtocolError("binary frame payload length differs from its header")
    return header, body
