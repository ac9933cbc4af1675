"""A Celery worker for the fault suite: ``python fault_worker.py MARKER_DIR CELERY_ARGS``.

Photos are read by a stand-in that proposes "positive" after ``READ_SECONDS``, first
leaving a file in MARKER_DIR named after its worker's main process id, so the test
knows whom to kill in the middle of a reading.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

READ_SECONDS = 1.0


def main() -> None:
    from api.worker import app, worker_context
    from pipeline.reading import LineReading, Reading

    markers = Path(sys.argv[1])

    def slow_reader(_photo: bytes, _kit: object) -> Reading:
        (markers / f"{os.getppid()}-{time.monotonic_ns()}").touch()
        time.sleep(READ_SECONDS)
        return Reading(
            status="ok",
            result="positive",
            analytes={},
            lines={"T": LineReading(present=True, intensity=0.3, p_present=0.9)},
            confidence=0.9,
            code=None,
            issues=[],
            model="fault-fake@1",
        )

    worker_context().vision.reader = slow_reader
    app.worker_main(["worker", *sys.argv[2:]])


if __name__ == "__main__":
    main()
