"""Kafka records <-> contract models: the one place records are decoded and encoded.

A record that cannot become a Request is never dropped: `decode_request` returns a DeadLetter
that says why, machine-readably, and the worker publishes it with the original bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import jiter
from pydantic import ValidationError

from worker.contract.request import Request
from worker.contract.response import Response
from worker.contract.validation import MAX_UNTRUSTED_ERRORS, describe_untrusted, field_names
from worker.settings import TopicBinding

Headers = Sequence[tuple[str, bytes]]

# Header names on result records (the input record's headers are kept as well).
H_TRACE_ID = "protect-trace-id"
H_STAGE_NAME = "protect-stage-name"
H_STAGE_VERSION = "protect-stage-version"
H_STATUS = "protect-status"
# Provenance on results and dead letters (after Kafka Streams' KIP-1034): the input record.
H_SOURCE_TOPIC = "protect-source-topic"
H_SOURCE_PARTITION = "protect-source-partition"
H_SOURCE_OFFSET = "protect-source-offset"
# Dead-letter headers: why, machine-readable, and a detail naming fields and the kind of
# problem, with nothing the sender chose (no payload text, none of their keys or values).
H_DLQ_REASON = "protect-dlq-reason"
H_DLQ_DETAIL = "protect-dlq-detail"
_OUR_HEADERS = frozenset(
    {
        H_TRACE_ID,
        H_STAGE_NAME,
        H_STAGE_VERSION,
        H_STATUS,
        H_SOURCE_TOPIC,
        H_SOURCE_PARTITION,
        H_SOURCE_OFFSET,
        H_DLQ_REASON,
        H_DLQ_DETAIL,
    }
)
# Details name our fields and JSON positions only; still bounded.
_MAX_DETAIL = 1000


class DeadLetterReason(StrEnum):
    EMPTY = "empty_value"
    TOO_LARGE = "record_too_large"
    NOT_UTF8 = "not_utf8"
    INVALID_JSON = "invalid_json"
    SCHEMA = "schema_violation"
    # Handling the record raised where nothing should (a bug of ours, or an input we never
    # imagined): the record is set aside so that every other record still gets its Response.
    INTERNAL = "internal_error"
    # The Response (or a Delivery carrying it) is larger than the producer may send.
    RESPONSE_TOO_LARGE = "response_too_large"
    # A header key that is not UTF-8: Kafka allows any bytes, but a Response carries the input's
    # headers and header keys are text to every client we write for (aiokafka refuses to read
    # the record at all; recovery.py reads it).
    INVALID_HEADER = "invalid_header"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: DeadLetterReason
    detail: str


# Names the detail may show: fields of the contract (a sender's own keys are replaced).
_REQUEST_FIELDS = field_names(Request)
# jiter's own messages (its JsonErrorType), which quote nothing of the input; any other message
# (a duplicate key's, which quotes the key, or one from a later jiter) is reported generically.
_JSON_PROBLEMS = frozenset(
    {
        "float value was found where an int was expected",
        "EOF while parsing a list",
        "EOF while parsing an object",
        "EOF while parsing a string",
        "EOF while parsing a value",
        "expected `:`",
        "expected `,` or `]`",
        "expected `,` or `}`",
        "expected ident",
        "expected value",
        "invalid escape",
        "invalid number",
        "number out of range",
        "invalid unicode code point",
        "control character (\\u0000-\\u001F) found while parsing a string",
        "key must be a string",
        "lone leading surrogate in hex escape",
        "trailing comma",
        "trailing characters",
        "unexpected end of hex escape",
        "recursion limit exceeded",
    }
)
_DUPLICATE_KEY = "Detected duplicate key"
_JSON_POSITION = re.compile(r"^(?P<problem>.*) at line (?P<line>\d+) column (?P<column>\d+)$", re.S)
_JSON_TYPES = {
    list: "array",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    type(None): "null",
}


def undecodable_header_keys(headers: Headers) -> DeadLetter | None:
    """A dead letter for a record with header keys that are not UTF-8 (recovery.py reads them
    with the undecodable bytes as surrogate escapes); None for any other record."""
    problems = []
    for i, (key, _) in enumerate(headers):
        if key.isascii():
            continue
        try:
            key.encode("utf-8", "surrogateescape").decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"record header {i}: key has invalid UTF-8 at byte {exc.start}")
    if not problems:
        return None
    if len(problems) > MAX_UNTRUSTED_ERRORS:
        more = len(problems) - MAX_UNTRUSTED_ERRORS
        problems = [*problems[:MAX_UNTRUSTED_ERRORS], f"(and {more} more header keys)"]
    return DeadLetter(DeadLetterReason.INVALID_HEADER, "\n".join(problems))


def writable_key(key: str) -> str:
    """A header key our producer can write (as UTF-8): an undecodable one with U+FFFD for each
    invalid sequence, as Java's client reads it (the dead letter's detail says which header)."""
    if key.isascii():
        return key
    return key.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def decode_request(
    value: bytes | None, binding: TopicBinding, max_bytes: int, default_project: str
) -> Request | DeadLetter:
    """A Request from a record value; events that name no stage get the topic's default."""
    if not value:
        return DeadLetter(DeadLetterReason.EMPTY, "record has no value")
    if len(value) > max_bytes:
        return DeadLetter(
            DeadLetterReason.TOO_LARGE, f"{len(value)} bytes > limit of {max_bytes} bytes"
        )
    try:
        # Strict JSON only: NaN/Infinity would be echoed into Responses that other languages'
        # parsers refuse, and a duplicate key is read differently by different consumers of
        # the topic (first value vs last). jiter is pydantic-core's parser: ~1.9 us for a 1 KB
        # event, 0.45 us more than pydantic_core.from_json (duplicate-key checks, mostly). It
        # bounds nesting (200) and integers (4,300 digits) with a ValueError too. Strings are
        # cached for keys only: payload texts rarely repeat.
        document = jiter.from_json(
            value, allow_inf_nan=False, catch_duplicate_keys=True, cache_mode="keys"
        )
    except ValueError as exc:
        return _unparsable(value, str(exc))
    if not isinstance(document, dict):
        kind = _JSON_TYPES.get(type(document), "value")
        return DeadLetter(DeadLetterReason.SCHEMA, f"(root): expected a JSON object, got {kind}")
    if document.get("stage_id") is None:
        # Events name their stage, or take their topic's; a stage named without a project is
        # in the topic's (or the deployment's) default project.
        if document.get("stage_name") is None and binding.stage_name is not None:
            document["stage_name"] = binding.stage_name
        if document.get("project_id") is None and document.get("project_name") is None:
            document["project_name"] = binding.project_name or default_project
    try:
        request = Request.model_validate(document)
    except ValidationError as exc:
        detail = describe_untrusted(exc, document, _REQUEST_FIELDS)
        return DeadLetter(DeadLetterReason.SCHEMA, detail)
    field = _non_finite(request)
    if field is not None:
        # 1e400 parses (to infinity) where `Infinity` does not; refused alike.
        return DeadLetter(DeadLetterReason.SCHEMA, f"{field}: finite_number")
    return request


def _unparsable(value: bytes, message: str) -> DeadLetter:
    """Why a record is not JSON: jiter's problem and position, never the record's text."""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DeadLetter(DeadLetterReason.NOT_UTF8, f"invalid UTF-8 at byte {exc.start}")
    match = _JSON_POSITION.match(message)
    problem = match["problem"] if match else message
    if problem.startswith(_DUPLICATE_KEY):
        problem = "duplicate key"
    elif problem not in _JSON_PROBLEMS:
        problem = "not strict JSON"
    where = f" at line {match['line']} column {match['column']}" if match else ""
    return DeadLetter(DeadLetterReason.INVALID_JSON, problem + where)


def _non_finite(request: Request) -> str | None:
    """The first number field holding infinity (from a JSON number beyond float range)."""
    if not math.isfinite(request.timeout):
        return "timeout"
    for i, ruleset in enumerate(request.prioritized_rulesets or ()):
        for j, rule in enumerate(ruleset.rules):
            target = rule.target_value
            values = target if isinstance(target, list) else [target]
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                return f"prioritized_rulesets[{i}].rules[{j}].target_value"
    return None


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from."""

    topic: str
    partition: int
    offset: int
    headers: Headers

    def headers_out(self) -> list[tuple[str, bytes]]:
        """The input's headers (e.g. a correlation id), without ours, plus provenance."""
        out = (
            [(writable_key(k), v) for k, v in self.headers if k not in _OUR_HEADERS]
            if self.headers
            else []
        )
        out += [
            (H_SOURCE_TOPIC, self.topic.encode()),
            (H_SOURCE_PARTITION, str(self.partition).encode()),
            (H_SOURCE_OFFSET, str(self.offset).encode()),
        ]
        return out


def encode_response(response: Response, source: Source) -> tuple[bytes, list[tuple[str, bytes]]]:
    stage = response.stage_metadata
    out = source.headers_out()
    out.append((H_TRACE_ID, str(response.trace_metadata.id).encode()))
    if stage.stage_name is not None:
        out.append((H_STAGE_NAME, stage.stage_name.encode()))
    if stage.stage_version is not None:
        out.append((H_STAGE_VERSION, str(stage.stage_version).encode()))
    out.append((H_STATUS, response.status.value.encode()))
    return response.model_dump_json().encode(), out


def dead_letter_headers(letter: DeadLetter, source: Source) -> list[tuple[str, bytes]]:
    out = source.headers_out()
    out += [
        (H_DLQ_REASON, letter.reason.value.encode()),
        (H_DLQ_DETAIL, letter.detail[:_MAX_DETAIL].encode()),
    ]
    return out
