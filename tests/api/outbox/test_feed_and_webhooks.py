"""The live event feed and the webhooks carry the same events from the same outbox
(issue 12): a released positive is written once, as one outbox message, and appears once
in the event stream and once at each webhook, under the same stable message id."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.accounts import service as accounts
from api.events.tables import Event
from api.outbox import service
from api.outbox.channels import transports
from api.outbox.schemas import EndpointCreate
from api.outbox.settings import OutboxSettings
from api.outbox.tables import OutboxMessage
from api.public_ids import CDC_OFFICE, TEST, encode
from api.reports import releases
from api.reports.schemas import CorrectionIn
from api.scope import scope_for

AGENCY = list(service.RELEASE_KINDS.values())


def sse(text: str) -> list[dict[str, Any]]:
    """A server-sent-events body as its events (``event``, ``id``, ``data`` parsed)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if ":" in line and not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            events.append(fields)
    return events


def test_a_released_positive_reaches_the_stream_and_each_webhook_once_under_one_id(
    client: TestClient,
    world: Any,
    flow: Any,
    receiver: Any,
    fast_retries: OutboxSettings,
    deliver_until: Any,
) -> None:
    session, ctx = world.session, world.ctx
    receivers = {fmt: receiver() for fmt in ("fhir", "hl7", "vigil-json")}
    for fmt, listening in receivers.items():
        service.create_endpoint(
            session,
            ctx,
            world.operator,
            EndpointCreate(
                name=f"{fmt} receiver",
                url=listening.url,
                format=fmt,
                cdc_office_id=encode(CDC_OFFICE, world.office_a.id),
            ),
        )
    session.commit()

    test = flow.released("positive", 0)
    deliver_until(
        ctx,
        transports(fast_retries),
        fast_retries,
        lambda: all(r.received for r in receivers.values()),
    )
    # One message for the agencies (the patient's own is another, with no result in it).
    [message] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind.in_(AGENCY))).all()

    token, _ = accounts.issue_token(session, ctx, world.cdc_a)
    session.commit()
    # Two events so far in CDC A's region: the test's start, then its release.
    with client.stream(
        "GET", "/api/events/stream?after_id=0&limit=2", headers={"Authorization": f"Bearer {token}"}
    ) as stream:
        events = sse(stream.read().decode())
    released = [e for e in events if e["event"] == "report.positive"]
    assert len(released) == 1, events
    feed = released[0]["data"]
    assert feed["message_id"] == message.message_id
    assert feed["test_id"] == encode(TEST, test.id)
    assert feed["lot_number"] == "LOT-A1"
    assert "name" not in json.dumps(feed)  # a summary: no name, no ID number, no contact

    for fmt, listening in receivers.items():
        ids = [r.headers["webhook-id"] for r in listening.received]
        assert ids == [message.message_id], (fmt, ids)
    vigil_json = json.loads(receivers["vigil-json"].received[0].body)
    assert vigil_json["id"] == message.message_id


def test_a_correction_is_one_more_message_on_both(world: Any, flow: Any) -> None:
    session, ctx = world.session, world.ctx
    test = flow.released("positive", 0)
    scope = scope_for(session, ctx, world.clinician_a)
    releases.amend(
        session,
        ctx,
        world.clinician_a,
        scope,
        test.id,
        CorrectionIn(result="negative", reason="the control line was misread"),
    )
    session.commit()
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind.in_(AGENCY)).order_by(OutboxMessage.id)
    ).all()
    assert [m.kind for m in messages] == ["result.released", "result.corrected"]
    feed = session.scalars(
        select(Event).where(Event.kind != "test.started").order_by(Event.id)
    ).all()
    assert [e.kind for e in feed] == ["report.positive", "result.corrected"]
    assert [e.payload["message_id"] for e in feed] == [m.message_id for m in messages]
    assert session.scalar(select(func.count()).select_from(Event)) == len(feed) + 1
