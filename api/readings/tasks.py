"""Celery tasks. Pipeline imports stay inside the service functions, so importing is cheap."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from api.readings import service
from api.worker import app, take_waiting, worker_context


@app.task(
    name=service.READ_UPLOAD,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def read_upload(upload_id: int) -> str:
    """Read one stored photo, and with it the photos of others already waiting in the queue
    (never waiting for more to come), written back together; does nothing for an upload
    whose proposal exists already."""
    ctx = worker_context()
    others = take_waiting(service.READ_UPLOAD, service.READ_BATCH - 1)
    try:
        outcomes = service.process_uploads(ctx, [upload_id, *others])
    except BaseException:
        # Their messages were taken off the queue: queue them again (this one's own is
        # retried or acknowledged by Celery). Redoing a reading kept already is skipped.
        for other in others:
            service.enqueue(ctx, other)
        raise
    return outcomes[upload_id]


@app.task(name="vigil.sweep")
def sweep() -> list[int]:
    """Queue again the uploads left without a proposal."""
    return service.sweep(worker_context())
