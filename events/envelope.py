"""CloudEvents 1.0 in Kafka binary mode: attributes as `ce_*` headers, the JSON body as value.

The binding is the `cloudevents` package's (`cloudevents.core.bindings.kafka`); this module adds
what Nuanliu promises on top: a size limit, a schema version extension, and decoding errors that
carry a reason fit for a dead-letter header.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import ValidationError

from events.base import EventPayload
from events.registry import payload_class

SOURCE = "/nuanliu"
SCHEMA_VERSION_ATTR = "schemaversion"
_FORMAT = JSONFormat()


class DecodeError(ValueError):
    """A record that is not a Nuanliu event; `reason` is short and goes into the DLQ header."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Envelope:
    """One event as it travels: CloudEvents attributes plus the JSON data."""

    id: str
    type: str
    source: str
    time: datetime
    data: dict[str, Any]
    subject: str | None = None
    key: str | None = None
    schema_version: int = 1
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def wrap(
        cls, payload: EventPayload, *, source: str = SOURCE, event_id: str | None = None
    ) -> Envelope:
        return cls(
            id=event_id or str(uuid.uuid4()),
            type=payload.TYPE,
            source=source,
            time=datetime.now(UTC),
            data=payload.model_dump(mode="json"),
            subject=payload.subject(),
            key=payload.partition_key(),
            schema_version=payload.SCHEMA_VERSION,
        )

    def payload(self) -> EventPayload:
        """The typed payload; raises DecodeError for unknown types and invalid data."""
        cls = payload_class(self.type)
        if cls is None:
            raise DecodeError(f"unknown event type {self.type!r}")
        if self.schema_version > cls.SCHEMA_VERSION:
            raise DecodeError(
                f"{self.type} schema version {self.schema_version} is newer than "
                f"{cls.SCHEMA_VERSION}, which this build understands"
            )
        try:
            return cls.model_validate(self.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "body"
            raise DecodeError(f"invalid {self.type} payload: {where}: {first.get('msg')}") from None


def encode(envelope: Envelope) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """Key, value and headers (kafka-python's list of `(str, bytes)`) for one envelope."""
    attributes: dict[str, Any] = {
        "id": envelope.id,
        "type": envelope.type,
        "source": envelope.source,
        "specversion": "1.0",
        "time": envelope.time,
        "datacontenttype": "application/json",
        SCHEMA_VERSION_ATTR: str(envelope.schema_version),
    }
    if envelope.subject:
        attributes["subject"] = envelope.subject
    attributes.update(envelope.extra)
    message = to_binary(CloudEvent(attributes, envelope.data), _FORMAT, key_mapper=lambda _: None)
    key = envelope.key.encode() if envelope.key is not None else None
    return key, bytes(message.value or b""), list(message.headers.items())


def encode_stored(
    *,
    event_id: str,
    type_: str,
    subject: str | None,
    key: str | None,
    time: datetime,
    schema_version: int,
    data_json: str,
) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """What :func:`encode` gives for an event as the outbox stores it (its data already JSON
    text), without parsing that JSON back and building a CloudEvent only to serialise it
    again: the relay publishes every event this way, and the round trip was half its time.
    The headers are the binding's own (`cloudevents.core.bindings.kafka`: attributes as
    `ce_*`, `content-type`, times in ISO 8601 with `Z`); tests hold the two to the same
    output."""
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    stamp = time.astimezone(UTC).isoformat()
    headers = [
        ("ce_id", event_id.encode()),
        ("ce_type", type_.encode()),
        ("ce_source", SOURCE.encode()),
        ("ce_specversion", b"1.0"),
        ("ce_time", (stamp[:-6] + "Z").encode()),
        ("content-type", b"application/json"),
        (f"ce_{SCHEMA_VERSION_ATTR}", str(schema_version).encode()),
    ]
    if subject:
        headers.append(("ce_subject", subject.encode("utf-8")))
    return (
        key.encode("utf-8") if key is not None else None,
        data_json.encode("utf-8"),
        headers,
    )


def decode(
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]] | None,
    *,
    max_bytes: int,
) -> Envelope:
    """Parse one Kafka record into an envelope, or raise DecodeError with the reason."""
    size = len(value or b"") + sum(len(k) + len(v or b"") for k, v in headers or [])
    if size > max_bytes:
        raise DecodeError(f"record of {size} bytes exceeds the {max_bytes}-byte limit")
    header_map: dict[str, bytes] = {}
    for name, raw in headers or []:
        header_map[name] = raw or b""
    for name, raw in header_map.items():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"header {name!r} is not UTF-8") from None
    for required in ("ce_id", "ce_type", "ce_source", "ce_specversion"):
        if not header_map.get(required):
            raise DecodeError(f"missing CloudEvents header {required}")
    if header_map["ce_specversion"] != b"1.0":
        raise DecodeError(f"unsupported CloudEvents specversion {header_map['ce_specversion']!r}")
    content_type = header_map.get("content-type", b"application/json").decode()
    if not content_type.startswith("application/json"):
        raise DecodeError(f"unsupported content-type {content_type!r}")
    try:
        data = json.loads(value or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DecodeError("body is not a JSON object")
    try:
        event = from_binary(
            KafkaMessage(headers=header_map, key=key, value=value or b""), _FORMAT, CloudEvent
        )
    except Exception as exc:  # the SDK raises assorted types for bad attributes
        raise DecodeError(f"invalid CloudEvents attributes: {exc}") from None
    attrs = event.get_attributes()
    try:
        schema_version = int(attrs.get(SCHEMA_VERSION_ATTR, "1"))
    except ValueError:
        raise DecodeError("schemaversion is not an integer") from None
    time = attrs.get("time") or datetime.now(UTC)
    known = {
        "id",
        "type",
        "source",
        "specversion",
        "time",
        "datacontenttype",
        "subject",
        "partitionkey",
        SCHEMA_VERSION_ATTR,
    }
    return Envelope(
        id=str(attrs["id"]),
        type=str(attrs["type"]),
        source=str(attrs["source"]),
        time=time,
        data=data,
        subject=attrs.get("subject"),
        key=key.decode("utf-8", "replace") if key is not None else None,
        schema_version=schema_version,
        extra={k: str(v) for k, v in attrs.items() if k not in known},
    )
