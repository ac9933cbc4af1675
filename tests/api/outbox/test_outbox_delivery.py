"""Webhook delivery to real HTTP receivers on loopback: retries, order, signatures, dead letters."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.context import AppContext
from api.errors import ConflictError, InvalidError
from api.interop.signing import SignatureError, verify
from api.outbox import service
from api.outbox.channels import transports
from api.outbox.dispatch import deliver_due
from api.outbox.loop import DeliveryLoop
from api.outbox.schemas import EndpointCreate, EndpointUpdate, SecretIssued
from api.outbox.settings import OutboxSettings
from api.outbox.tables import OutboxDelivery, OutboxMessage
from api.public_ids import CDC_OFFICE, encode

PATIENTS = ("pat-1", "pat-2", "pat-3")


def register(
    session: Session, ctx: AppContext, world: Any, url: str, fmt: str, office: Any = None
) -> SecretIssued:
    issued = service.create_endpoint(
        session,
        ctx,
        world.operator,
        EndpointCreate(
            name=f"{fmt} receiver",
            url=url,
            format=fmt,
            cdc_office_id=encode(CDC_OFFICE, (office or world.office_national).id),
        ),
    )
    session.commit()
    return issued


def arrivals(receiver: Any) -> dict[str, list[int]]:
    """Per patient, the message numbers in the order they first arrived."""
    order: dict[str, list[int]] = {}
    for item in receiver.unique():
        _, patient, number = item.headers["webhook-id"].rsplit("-", 2)
        order.setdefault(f"pat-{patient}", []).append(int(number))
    return order


def assert_signed(receiver: Any, secrets: list[str]) -> None:
    for item in receiver.received:
        assert verify(item.headers, item.body, secrets) == item.headers["webhook-id"]


def test_flaky_away_and_slow_receivers_each_get_every_message_once_in_order(
    ctx: AppContext,
    session: Session,
    world: Any,
    receiver: Callable[..., Any],
    fast_retries: OutboxSettings,
    deliver_until: Callable[..., Any],
    released_result: Callable[..., Any],
) -> None:
    config = fast_retries.model_copy(update={"max_attempts": 40})
    flaky = receiver(fail_first=4)
    slow = receiver(slow_first=2, slow_seconds=2 * config.timeout_seconds)
    away = receiver()
    away.stop()  # gone before the first message; comes back below
    keys = {
        "flaky": register(session, ctx, world, flaky.url, "fhir"),
        "slow": register(session, ctx, world, slow.url, "hl7", office=world.office_a),
        "away": register(session, ctx, world, away.url, "vigil-json"),
    }
    messages = 3
    for number in range(messages):
        for patient in PATIENTS:
            service.enqueue_release(
                session, ctx, released_result(patient, number), world.region_a, config=config
            )
    session.commit()
    channels = transports(config)

    def away_failures() -> int:
        session.expire_all()
        return service.get_endpoint(session, keys["away"].endpoint.id).consecutive_failures

    deliver_until(ctx, channels, config, lambda: away_failures() >= 3)
    away.start()
    everyone = (flaky, slow, away)
    expected = len(PATIENTS) * messages
    deliver_until(ctx, channels, config, lambda: all(len(r.unique()) == expected for r in everyone))

    for name, item in zip(keys, everyone, strict=True):
        assert arrivals(item) == {p: list(range(messages)) for p in PATIENTS}, name
        assert_signed(item, [keys[name].secret])
    # The misbehaviour really happened: refused, duplicated by the timeouts, missed.
    assert len(flaky.received) == expected + 4
    assert len(slow.received) > expected
    assert away_failures() == 0
    assert flaky.received[0].headers["content-type"] == "application/fhir+json"
    Bundle.model_validate_json(flaky.received[0].body)
    assert slow.received[0].headers["content-type"] == "x-application/hl7-v2+er7"
    assert slow.received[0].body.startswith(b"MSH|^~\\&|")
    assert json.loads(away.received[-1].body)["type"] == "result.released"
    session.expire_all()
    statuses = session.scalars(select(OutboxDelivery.status)).all()
    assert statuses == ["delivered"] * (3 * expected)
    for endpoint in service.list_endpoints(session):
        assert (endpoint.backlog, endpoint.dead_letters) == (0, 0)
        assert endpoint.last_success_at is not None


def test_a_dead_endpoint_dead_letters_and_the_operator_resends(
    ctx: AppContext,
    session: Session,
    world: Any,
    receiver: Callable[..., Any],
    fast_retries: OutboxSettings,
    deliver_until: Callable[..., Any],
    released_result: Callable[..., Any],
) -> None:
    config = fast_retries.model_copy(update={"max_attempts": 3})
    dead = receiver()
    dead.stop()
    issued = register(session, ctx, world, dead.url, "fhir")
    for number in range(2):
        service.enqueue_release(
            session, ctx, released_result("pat-1", number), world.region_a, config=config
        )
    session.commit()
    channels = transports(config)

    def failed() -> list[Any]:
        session.expire_all()
        return service.failures(session, dead_only=True)

    deliver_until(ctx, channels, config, lambda: len(failed()) == 2)
    letters = failed()
    assert [letter.message_id for letter in letters] == ["m-pat-1-0", "m-pat-1-1"]
    assert all(letter.attempts == 3 and letter.last_error for letter in letters)
    health = service.get_endpoint(session, issued.endpoint.id)
    assert (health.dead_letters, health.backlog, health.consecutive_failures) == (2, 0, 6)
    assert health.last_success_at is None
    assert health.last_failure_at is not None
    assert dead.received == []

    dead.start()  # the receiver is back on its port; the operator resends both
    for letter in letters:
        assert service.resend(session, world.operator, letter.id).status == "pending"
    session.commit()
    deliver_until(ctx, channels, config, lambda: len(dead.unique()) == 2)
    assert arrivals(dead) == {"pat-1": [0, 1]}
    assert_signed(dead, [issued.secret])
    session.expire_all()
    assert failed() == []
    health = service.get_endpoint(session, issued.endpoint.id)
    assert (health.dead_letters, health.consecutive_failures) == (0, 0)
    with pytest.raises(ConflictError):
        service.resend(session, world.operator, letters[0].id)


def test_rotated_secret_signs_alongside_the_old_one_until_its_grace_ends(
    ctx: AppContext,
    session: Session,
    world: Any,
    receiver: Callable[..., Any],
    fast_retries: OutboxSettings,
    deliver_until: Callable[..., Any],
    released_result: Callable[..., Any],
) -> None:
    hook = receiver()
    first = register(session, ctx, world, hook.url, "vigil-json")
    channels = transports(fast_retries)

    def send(number: int) -> Any:
        service.enqueue_release(
            session, ctx, released_result("pat-1", number), world.region_a, config=fast_retries
        )
        session.commit()
        deliver_until(ctx, channels, fast_retries, lambda: len(hook.unique()) == number + 1)
        return hook.received[-1]

    only_first = send(0)
    verify(only_first.headers, only_first.body, [first.secret])
    second = service.rotate_secret(
        session, ctx, world.operator, first.endpoint.id, grace=timedelta(hours=1)
    )
    session.commit()
    assert second.previous_expires_at is not None
    during = send(1)
    # A receiver that has switched and one that has not both accept it.
    verify(during.headers, during.body, [first.secret])
    verify(during.headers, during.body, [second.secret])
    third = service.rotate_secret(
        session, ctx, world.operator, first.endpoint.id, grace=timedelta(0)
    )
    session.commit()
    after = send(2)
    verify(after.headers, after.body, [third.secret])
    for stale in (first.secret, second.secret):
        with pytest.raises(SignatureError):
            verify(after.headers, after.body, [stale])


def test_scope_paused_endpoints_and_rolled_back_releases(
    ctx: AppContext,
    session: Session,
    world: Any,
    receiver: Callable[..., Any],
    fast_retries: OutboxSettings,
    deliver_until: Callable[..., Any],
    released_result: Callable[..., Any],
) -> None:
    national, other_region = receiver(), receiver()
    issued = register(session, ctx, world, national.url, "vigil-json")
    register(session, ctx, world, other_region.url, "vigil-json", office=world.office_b)
    channels = transports(fast_retries)

    # Rolled back with the release: never sent.
    service.enqueue_release(session, ctx, released_result("pat-1", 0), world.region_a)
    session.rollback()
    # A negative first release is no agencies' business.
    assert (
        service.enqueue_release(
            session, ctx, released_result("pat-1", 1, result="negative"), world.region_a
        )
        is None
    )
    # Paused: waits in the backlog.
    service.update_endpoint(
        session, world.operator, issued.endpoint.id, EndpointUpdate(enabled=False)
    )
    service.enqueue_release(session, ctx, released_result("pat-1", 2), world.region_a)
    session.commit()
    assert deliver_due(ctx, channels, fast_retries).claimed == []
    assert service.get_endpoint(session, issued.endpoint.id).backlog == 1
    service.update_endpoint(
        session, world.operator, issued.endpoint.id, EndpointUpdate(enabled=True)
    )
    # The correction of a result goes to everyone who got the first version.
    correction = released_result(
        "pat-1", 3, result="negative", report_status="corrected", result_id="res-pat-1-2"
    )
    service.enqueue_release(session, ctx, correction, world.region_a)
    session.commit()
    deliver_until(ctx, channels, fast_retries, lambda: len(national.unique()) == 2)
    kinds = [json.loads(item.body)["type"] for item in national.unique()]
    assert kinds == ["result.released", "result.corrected"]
    assert other_region.received == []
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


def test_endpoint_scope_must_lie_inside_its_owners_region(
    ctx: AppContext, session: Session, world: Any
) -> None:
    with pytest.raises(InvalidError, match="outside the owner's region"):
        service.create_endpoint(
            session,
            ctx,
            world.operator,
            EndpointCreate(
                name="too wide",
                url="https://cdc-b.example/hook",
                format="fhir",
                cdc_office_id=encode(CDC_OFFICE, world.office_b.id),
                scope_region_code=world.region_a,
            ),
        )


def test_the_embedded_loop_delivers_after_commit(
    ctx: AppContext,
    session: Session,
    world: Any,
    receiver: Callable[..., Any],
    fast_retries: OutboxSettings,
    released_result: Callable[..., Any],
) -> None:
    hook = receiver(fail_first=1)
    issued = register(session, ctx, world, hook.url, "fhir")
    service.enqueue_release(session, ctx, released_result("pat-1", 0), world.region_a)
    session.commit()
    config = fast_retries.model_copy(update={"poll_seconds": 0.01})
    loop = DeliveryLoop(ctx, transports(config), config).start()
    try:
        deadline = time.monotonic() + 20
        while len(hook.received) < 2:  # refused once, then accepted
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        loop.stop()
    assert_signed(hook, [issued.secret])


def test_the_celery_task_sends_through_the_bound_context(
    ctx: AppContext,
    session: Session,
    world: Any,
    receiver: Callable[..., Any],
    released_result: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import api.worker
    from api.outbox.tasks import deliver

    hook = receiver()
    issued = register(session, ctx, world, hook.url, "hl7")
    service.enqueue_release(session, ctx, released_result("pat-1", 0), world.region_a)
    session.commit()
    monkeypatch.setattr(api.worker, "_context", ctx)
    assert deliver.apply().get() == 1
    assert_signed(hook, [issued.secret])
    # The receiver gets the patient's ID number; the outbox keeps it encrypted.
    national_id = b"110101199003071234"
    assert national_id in hook.received[0].body
    (stored,) = session.scalars(select(OutboxDelivery.body_enc)).all()
    assert national_id not in stored
    assert deliver.apply().get() == 0  # nothing left: sent once
