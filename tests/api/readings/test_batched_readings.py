"""Several uploads read by one task and written back in one transaction: each photo keeps
what it would have alone (its proposal, its audit entries, its test's state), one that
cannot be read or kept fails alone, and a second run of any of them is skipped.

On an engine of the test's own (real transactions), SQLite and PostgreSQL, as a worker runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from api.audit import chain
from api.audit.tables import AuditEntry
from api.context import AppContext
from api.readings import service
from api.selftests import lifecycle
from api.selftests.tables import Proposal, SelfTest, TestStatus


def queued_uploads(
    ctx: AppContext,
    world_builder: Callable[..., Any],
    flow_builder: Callable[[Any], Any],
    photos_show: Callable[[dict[str, Any]], None],
    monkeypatch: pytest.MonkeyPatch,
    count: int,
    unreadable: int | None = None,
    withdrawn: int | None = None,
) -> list[int]:
    """``count`` uploads queued and not read, each photo showing its claimed unit (the
    ``unreadable`` one's makes the pipeline's stand-in raise; the ``withdrawn`` one's test
    is withdrawn while its photo waits); their ids."""
    queued: list[int] = []
    monkeypatch.setattr(service, "enqueue", lambda _ctx, upload_id: queued.append(upload_id))
    with ctx.database.session() as session:
        world = world_builder(ctx, session)
        flow = flow_builder(world)
        shown: dict[str, Any] = {}
        for index in range(count):
            test = flow.claim(code_index=index)
            sha = flow.upload(test).photo_sha256
            if index == withdrawn:
                lifecycle.withdraw(session, world.operator, test, "unit dropped")
                session.commit()
            crash = RuntimeError("the pipeline crashed on this photo")
            shown[sha] = crash if index == unreadable else (world.codes[index], f"{index:016x}")
    photos_show(shown)
    return queued


def proposals_and_entries(ctx: AppContext) -> tuple[dict[int, Proposal], list[AuditEntry]]:
    with ctx.database.session() as session:
        proposals = {p.upload_id: p for p in session.scalars(select(Proposal))}
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "proposal")))
        checked, broken = chain.verify(session)
        assert broken is None
        assert checked > 0
    return proposals, entries


def test_an_unreadable_photo_and_a_test_withdrawn_meanwhile_leave_the_others_read(
    worker_ctx: AppContext,
    world_builder: Callable[..., Any],
    flow_builder: Callable[[Any], Any],
    photos_show: Callable[[dict[str, Any]], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second photo makes the pipeline crash; the third upload's test is withdrawn while
    # its photo waits in the queue.
    queued = queued_uploads(
        worker_ctx, world_builder, flow_builder, photos_show, monkeypatch, 4, 1, withdrawn=2
    )
    outcomes = service.process_uploads(worker_ctx, queued)
    assert outcomes == {
        queued[0]: "proposed",
        queued[1]: "failed",  # left without a proposal: the sweep queues it again
        queued[2]: "proposed",
        queued[3]: "proposed",
    }
    proposals, entries = proposals_and_entries(worker_ctx)
    assert sorted(proposals) == [queued[0], queued[2], queued[3]]
    # Each kept photo has its own audit entry, naming its own proposal and upload.
    assert sorted((e.detail or {})["upload"] for e in entries) == sorted(proposals)
    assert {e.object_id for e in entries} == {str(p.id) for p in proposals.values()}
    with worker_ctx.database.session() as session:
        statuses = dict(session.execute(select(SelfTest.id, SelfTest.status)).all())
    # The withdrawn test keeps its state; its proposal is kept for the record.
    assert statuses[proposals[queued[2]].self_test_id] == TestStatus.withdrawn
    assert [statuses[proposals[u].self_test_id] for u in (queued[0], queued[3])] == [
        TestStatus.in_review
    ] * 2
    assert proposals[queued[0]].unit_check == "match"
    # Read again once the pipeline can: only the failed one is new.
    photos_show(dict.fromkeys(_shas(worker_ctx, queued), (None, None)))
    again = service.process_uploads(worker_ctx, queued)
    assert again == {**dict.fromkeys(queued, "skipped"), queued[1]: "proposed"}


def test_a_proposal_kept_meanwhile_by_another_run_is_skipped_and_the_rest_kept(
    worker_ctx: AppContext,
    world_builder: Callable[..., Any],
    flow_builder: Callable[[Any], Any],
    photos_show: Callable[[dict[str, Any]], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message delivered twice: the other run keeps the first upload's proposal while
    this one reads; this one's transaction fails on it, and each photo is then written
    back by itself."""
    queued = queued_uploads(worker_ctx, world_builder, flow_builder, photos_show, monkeypatch, 3)
    reader = worker_ctx.vision.reader
    assert reader is not None
    other_run: list[str] = []

    def read(photo: bytes, kit: Any) -> Any:
        if not other_run:  # during this run's first read, the other run keeps that upload
            worker_ctx.vision.reader = reader
            other_run.append(service.process_upload(worker_ctx, queued[0]))
        return reader(photo, kit)

    worker_ctx.vision.reader = read
    outcomes = service.process_uploads(worker_ctx, queued)
    assert other_run == ["proposed"]
    assert outcomes == {queued[0]: "skipped", queued[1]: "proposed", queued[2]: "proposed"}
    proposals, entries = proposals_and_entries(worker_ctx)
    assert sorted(proposals) == queued
    assert len(entries) == 3  # one each: the failed transaction left none behind
    # Delivered again, all of them: nothing is read or written twice.
    assert service.process_uploads(worker_ctx, [*queued, queued[1]]) == dict.fromkeys(
        queued, "skipped"
    )
    with worker_ctx.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Proposal)) == 3


def _shas(ctx: AppContext, upload_ids: list[int]) -> list[str]:
    from api.selftests.tables import Upload

    with ctx.database.session() as session:
        return list(session.scalars(select(Upload.photo_sha256).where(Upload.id.in_(upload_ids))))
