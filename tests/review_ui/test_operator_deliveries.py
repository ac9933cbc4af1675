"""Operator pages for delivery: endpoint health, dead letters resent from the page, codes."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest
from review_ui_helpers import user_named
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.tables import AuditEntry
from api.context import AppContext
from api.interop import service as codes
from api.organisations.tables import CdcOffice
from api.outbox import service as outbox
from api.outbox.channels import transports
from api.outbox.dispatch import deliver_due
from api.outbox.schemas import EndpointCreate
from api.outbox.settings import OutboxSettings
from api.outbox.tables import OutboxDelivery, WebhookEndpoint
from api.public_ids import CDC_OFFICE, CODE_BINDING, DELIVERY, encode

ONE_TRY = OutboxSettings(max_attempts=1, timeout_seconds=0.5)


def closed_port() -> int:
    """A loopback port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dead_endpoint(
    session: Session, ctx: AppContext, name: str, message_id: str
) -> tuple[str, OutboxDelivery]:
    """An endpoint nobody answers at and one delivery to it, not yet sent."""
    office = session.scalars(select(CdcOffice).order_by(CdcOffice.id)).first()
    assert office is not None
    issued = outbox.create_endpoint(
        session,
        ctx,
        user_named(session, "operator"),
        EndpointCreate(
            name=name,
            url=f"http://127.0.0.1:{closed_port()}/hook",
            format="vigil-json",
            cdc_office_id=encode(CDC_OFFICE, office.id),
        ),
    )
    endpoint = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.public_id == issued.endpoint.id)
    ).one()
    message = outbox.enqueue(
        session,
        ctx,
        kind="result.released",
        aggregate_key="pat-page",
        region_code=office.region_code,
        summary={},
        deliveries=[
            outbox.NewDelivery(
                channel=outbox.WEBHOOK,
                subscriber=f"{outbox.WEBHOOK}:{endpoint.id}",
                endpoint_id=endpoint.id,
                content_type="application/json",
                body="{}",
            )
        ],
        message_id=message_id,
    )
    session.flush()
    delivery = session.scalars(
        select(OutboxDelivery).where(OutboxDelivery.message_id == message.id)
    ).one()
    return issued.endpoint.id, delivery


@pytest.fixture
def dead_letter(session: Session, ctx: AppContext) -> tuple[str, OutboxDelivery]:
    """A delivery the worker dead-lettered, and another endpoint's that must not show with it."""
    found = dead_endpoint(session, ctx, "Gone receiver", "m-page-dead-1")
    dead_endpoint(session, ctx, "Other gone receiver", "m-page-other-1")
    session.commit()
    assert deliver_due(ctx, transports(ONE_TRY), ONE_TRY).dead == 2
    session.refresh(found[1])
    assert found[1].status == "dead"
    return found


def test_a_dead_letter_is_listed_and_resent_into_the_outbox(
    pages: Any, session: Session, dead_letter: tuple[str, OutboxDelivery]
) -> None:
    endpoint_id, delivery = dead_letter
    public = encode(DELIVERY, delivery.id)
    pages.log_in("operator")
    overview = pages.get("/operator/deliveries")
    assert overview.status_code == 200
    row = re.search(r">Gone receiver<.*?</tr>", overview.text, re.S)
    assert row is not None
    assert 'badge--positive">1<' in row.group(0)  # one dead letter, shown as such

    page = pages.get(f"/operator/deliveries/{endpoint_id}")
    assert "m-page-dead-1" in page.text
    assert "m-page-other-1" not in page.text  # the other endpoint's dead letter
    action = f"/operator/deliveries/{endpoint_id}/resend/{public}"
    assert f'action="{action}"' in page.text

    assert pages.post(action, {"csrf_token": "forged"}).status_code == 403
    session.refresh(delivery)
    assert delivery.status == "dead"

    sent = pages.post(action)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/operator/deliveries/{endpoint_id}?resent={public}"
    session.refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert outbox.get_endpoint(session, endpoint_id).backlog == 1
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "outbox.resend")).all()
    assert [(e.object_id, e.actor_role) for e in audit] == [(str(delivery.id), "operator")]

    after = pages.get(sent.headers["location"])
    assert "back in the outbox" in after.text
    assert "No dead letters." in after.text
    # Pending now, it is no dead letter: a second press is refused, not resent twice.
    again = pages.post(action)
    assert again.status_code == 409
    assert "only dead ones are resent" in again.text


def test_only_operators_see_delivery_and_resend(
    pages: Any, session: Session, dead_letter: tuple[str, OutboxDelivery]
) -> None:
    endpoint_id, delivery = dead_letter
    action = f"/operator/deliveries/{endpoint_id}/resend/{encode(DELIVERY, delivery.id)}"
    paths = ("/operator/deliveries", f"/operator/deliveries/{endpoint_id}", "/operator/codes")
    changes = ("/operator/codes", f"/operator/codes/{encode(CODE_BINDING, 1)}")
    for path in paths:
        assert pages.get(path, follow_redirects=False).status_code == 303, path
    for username in ("maker", "cdc-national", "clinician-south", "patient2", "scientist"):
        pages.log_in(username)
        pages.get("/account")  # a page that gives this user a CSRF token
        for path in paths:
            assert pages.get(path).status_code == 403, (username, path)
        assert pages.post(action).status_code == 403, username
        for change in changes:
            assert pages.post(change, {"name": "x", "loinc": "94558-4"}).status_code == 403
    session.refresh(delivery)
    assert delivery.status == "dead"


def test_an_unknown_endpoint_or_delivery_is_a_404(pages: Any) -> None:
    pages.log_in("operator")
    assert pages.get("/operator/deliveries/whe_nothing").status_code == 404
    pages.get("/operator/deliveries")
    missing = f"/operator/deliveries/whe_nothing/resend/{encode(DELIVERY, 999_999)}"
    assert pages.post(missing).status_code == 404


def test_the_codes_page_shows_and_changes_the_stored_mapping(
    pages: Any, session: Session, ctx: AppContext
) -> None:
    pages.log_in("operator")
    page = pages.get("/operator/codes")
    assert page.status_code == 200
    assert "94558-4" in page.text
    assert "SARS-CoV-2 antigen" in page.text
    for snomed in ("260373001", "260415000", "455371000124106"):
        assert snomed in page.text

    new = {"product_code": "", "name": "Dengue NS1 antigen", "loinc": "75377-2"}
    unnamed = pages.post("/operator/codes", new)
    assert unnamed.status_code == 422
    assert "does not know yet" in unnamed.text
    assert 'value="Dengue NS1 antigen"' in unnamed.text  # what was typed stays
    misdigit = pages.post("/operator/codes", {**new, "loinc": "75377-3"})
    assert misdigit.status_code == 422
    assert "check digit" in misdigit.text
    display = "Dengue virus NS1 Ag [Presence] in Serum or Plasma by Rapid immunoassay"
    added = pages.post("/operator/codes", {**new, "loinc_display": display})
    assert added.status_code == 303, added.text
    assert codes.stored_mapping(session).loinc_for(None, "dengue ns1  antigen") == "75377-2"

    listed = [b for b in codes.list_bindings(session) if b.name == "Dengue NS1 antigen"]
    [binding] = listed
    pages.get("/operator/codes")
    changed = pages.post(
        f"/operator/codes/{encode(CODE_BINDING, binding.id)}", {"loinc": "94558-4"}
    )
    assert changed.status_code == 303
    assert codes.stored_mapping(session).loinc_for(None, "Dengue NS1 antigen") == "94558-4"
    result = pages.post("/operator/codes/results/invalid", {"code": "125154007", "display": "x"})
    assert result.status_code == 303
    assert codes.stored_mapping(session).snomed_for("invalid").code == "125154007"
    shown = pages.get("/operator/codes?done=result")
    assert "125154007" in shown.text
    assert "changed" in shown.text
    actions = set(
        session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.action.in_(["bind_code", "rebind_code", "set_result_code"])
            )
        )
    )
    assert actions == {"bind_code", "rebind_code", "set_result_code"}
