"""``vigil dataset export``: confirmed cases of the configured server as a versioned dataset.

The same use case as ``GET /api/datasets/confirmed-cases.zip``
(:mod:`api.datasets.service`), written as a folder, as the named data-scientist
account (``--by``); the export is recorded in the audit log.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from vigil.models_cli import guarded, scientist_account


def _export(args: argparse.Namespace) -> int:
    from api.config import Settings
    from api.context import AppContext
    from api.datasets import service
    from api.datasets.schemas import ExportSelection
    from api.db import upgrade

    selection = ExportSelection(
        since=args.since, until=args.until, products=args.product, regions=args.region
    )
    settings = Settings().with_keys()
    upgrade(settings)
    ctx = AppContext.from_settings(settings)
    with ctx.database.transaction() as session:
        built = service.export(session, ctx, scientist_account(session, args.by), selection)
        built.write(Path(args.out))
    print(built.summary().model_dump_json())
    return 0


def add_parser(sub: Any) -> None:
    """Add ``dataset`` and its subcommands to the ``vigil`` parser's subparsers."""
    p = sub.add_parser("dataset", help="confirmed cases as a versioned dataset")
    dataset = p.add_subparsers(dest="dataset_command", required=True)
    q = dataset.add_parser(
        "export", help="write the confirmed cases (training/dataset_format.md) into a new folder"
    )
    q.add_argument("--out", required=True, help="a new or empty folder")
    q.add_argument("--since", type=date.fromisoformat, default=None, help="photos from this day")
    q.add_argument("--until", type=date.fromisoformat, default=None, help="photos to this day")
    q.add_argument("--product", action="append", default=[], help="product code (repeat)")
    q.add_argument("--region", action="append", default=[], help="region code (repeat)")
    q.add_argument("--by", required=True, help="the data-scientist account exporting")
    q.set_defaults(func=guarded(_export))
