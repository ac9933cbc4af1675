"""Celery tasks. Pipeline imports stay inside the service functions, so importing is cheap."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from api.readings import service
from api.worker import app, worker_context


@app.task(
    name=service.READ_UPLOAD,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def read_upload(upload_id: int) -> str:
    """Read one stored photo; does nothing when its proposal already exists."""
    return service.process_upload(worker_context(), upload_id)


@app.task(name="vigil.sweep")
def sweep() -> list[int]:
    """Queue again the uploads left without a proposal."""
    return service.sweep(worker_context())
