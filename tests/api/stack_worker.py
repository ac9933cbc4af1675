"""Starts a Celery worker for the stack tests: ``python stack_worker.py [--fake=RESULT] ARGS``.

With ``--fake`` the worker reads photos with a stand-in that proposes RESULT
(for when the vision pipeline is not installed); otherwise it runs the real one.
"""

from __future__ import annotations

import sys


def main() -> None:
    from api.worker import app, worker_context

    args = sys.argv[1:]
    if args and args[0].startswith("--fake="):
        result = args.pop(0).split("=", 1)[1]
        from pipeline.reading import LineReading, Reading

        def fake(_photo: bytes, _kit: object) -> Reading:
            present = result == "positive"
            return Reading(
                status="ok",
                result=result,  # type: ignore[arg-type]
                analytes={},
                lines={"T": LineReading(present=present, intensity=0.3, p_present=0.9)},
                confidence=0.9,
                code=None,
                issues=[],
                model="stack-fake@1",
            )

        worker_context().vision.reader = fake

    app.worker_main(["worker", *args])


if __name__ == "__main__":
    main()
