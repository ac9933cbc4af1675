"""The ``vigil`` command: one entry point for reading photos, data, models and the server."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.reading import Reading

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}


def _photos(paths: Sequence[str]) -> Iterator[tuple[str, Path | None]]:
    """Each photo named on the command line, folders expanded; ``None`` for a missing path."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.suffix.lower() in PHOTO_SUFFIXES and child.is_file():
                    yield str(child), child
        elif path.is_file():
            yield given, path
        else:
            yield given, None


def _cmd_read(args: argparse.Namespace) -> int:
    from models.registry import current_band_model
    from pipeline.kit import KitError, load_kit
    from pipeline.read import read

    try:
        kit = load_kit(args.kit)
    except KitError as exc:
        print(f"vigil read: {exc}", file=sys.stderr)
        return 2
    band_model = current_band_model()
    explain_dir = Path(args.explain) if args.explain else None
    if explain_dir:
        explain_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for shown, path in _photos(args.photos):
        if path is None:
            print(f"vigil read: {shown}: no such file or folder", file=sys.stderr)
            failures += 1
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(f"vigil read: {shown}: {exc.strerror}", file=sys.stderr)
            failures += 1
            continue
        reading = read(data, kit, band_model=band_model, image=shown)
        print(json.dumps(reading.to_json()), flush=True)
        if explain_dir:
            _write_explanation(explain_dir / path.stem, reading)
    return 1 if failures else 0


def _write_explanation(stem: Path, reading: Reading) -> None:
    import cv2

    from pipeline.explain import marked_window, profile_plot

    window = marked_window(reading)
    if window is not None:
        cv2.imwrite(str(stem) + ".window.png", window)
    plot = profile_plot(reading)
    if plot is not None:
        Path(str(stem) + ".profile.png").write_bytes(plot)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from sqlalchemy.exc import OperationalError

    from api.config import Settings, SettingsError
    from api.context import AppContext
    from api.db import upgrade
    from review_ui.app import create_app

    served = f"http://{args.host}:{args.port}"
    try:
        settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
        # QR links and e-mails point where the server is reached: the given public URL,
        # PUBLIC_BASE_URL, or else the host and port served here.
        public = args.public_url or (
            settings.public_base_url if "public_base_url" in settings.model_fields_set else served
        )
        settings = settings.model_copy(update={"public_base_url": public.rstrip("/")})
        settings = settings.with_keys()
    except SettingsError as exc:
        print(f"vigil serve: {exc}", file=sys.stderr)
        return 2
    try:
        upgrade(settings)
    except OperationalError as exc:
        # One line a person can act on, not a driver's traceback.
        print(f"vigil serve: cannot reach the database: {_first_line(exc.orig)}", file=sys.stderr)
        return 3
    context = AppContext.from_settings(settings)
    base_url = settings.public_base_url
    if args.demo:
        from api.outbox.channels import CONSOLE
        from vigil.demo import describe, seed_demo

        # Without gateways nobody could sign up: the demo writes text messages and e-mails
        # to this log.
        os.environ.setdefault("OUTBOX_SMS_GATEWAY_URL", CONSOLE)
        os.environ.setdefault("OUTBOX_SMTP_HOST", CONSOLE)

        print(describe(seed_demo(context), base_url), flush=True)
    else:
        print(f"Vigil on {base_url}/ (API documentation at {base_url}/docs)", flush=True)
    uvicorn.run(create_app(context=context), host=args.host, port=args.port, log_level="info")
    return 0


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from api.config import Settings
    from api.db import upgrade

    upgrade(Settings().with_keys())
    print("database schema is up to date")
    return 0


def _cmd_db_partitions(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from api.config import Settings
    from api.db.partitions import MONTHS_AHEAD, keep_ahead
    from api.db.session import Database

    database = Database.from_url(args.database_url or Settings().resolved_database_url)
    if database.dialect != "postgresql":
        print("nothing to do: only PostgreSQL partitions the audit log")
        return 0
    try:
        created = keep_ahead(database)
    except DBAPIError as exc:
        print(f"vigil db partitions: {_first_line(exc.orig)}", file=sys.stderr)
        return 3
    finally:
        database.bind.dispose()  # type: ignore[union-attr]
    print(
        f"audit log partitions in place for this month and the next {MONTHS_AHEAD}; "
        + (f"created {', '.join(created)}" if created else "none were missing")
    )
    return 0


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from api.audit.chain import cut_of, verify
    from api.config import Settings
    from api.db.session import Database

    database = Database.from_url(args.database_url or Settings().resolved_database_url)
    try:
        with database.session() as session:
            checked, broken = verify(session)
            archived = cut_of(session).month
    except OperationalError as exc:
        print(
            f"vigil audit verify: cannot reach the database: {_first_line(exc.orig)}",
            file=sys.stderr,
        )
        return 3
    if broken is not None:
        print(
            f"vigil audit verify: entry {broken.entry_id} breaks the chain: {broken.reason} "
            f"({checked - 1} entries before it are intact)",
            file=sys.stderr,
        )
        return 1
    since = f" (after the months archived, up to {archived})" if archived else ""
    print(f"audit log intact: {checked} entries{since}, each linked to the one before")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from datasets import generate
    from vigil import archive_cli, dataset_cli, models_cli

    parser = argparse.ArgumentParser(prog="vigil", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("read", help="read photos of used tests; one rdt-reading/1 JSON per line")
    p.add_argument("--kit", required=True, help="the kit description (kit.json)")
    p.add_argument("--explain", metavar="DIR", help="also write the window and profile plot here")
    p.add_argument("photos", nargs="+", help="photo files or folders of photos")
    p.set_defaults(func=_cmd_read)

    p = sub.add_parser("generate", help="render a labelled synthetic photo set")
    generate.build_parser(p)
    p.set_defaults(func=generate.run)

    p = sub.add_parser(
        "serve",
        help="run the server (API, web pages, in-process tasks by default)",
        description="Run the API and the web pages. Without DATABASE_URL and CELERY_BROKER_URL "
        "everything lives in the data folder (SQLite database, photos, documents, generated "
        "keys) and photos are read in-process.",
    )
    p.add_argument("--demo", action="store_true", help="load the demo data once and print log-ins")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="the data folder: database, photos, documents and keys of the embedded default "
        "(default: VIGIL_DATA_DIR, else ./var)",
    )
    p.add_argument(
        "--public-url",
        help="the URL people reach this server at, used in QR links on labels and in links "
        "sent out (default: PUBLIC_BASE_URL, else http://HOST:PORT as served)",
    )
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("db", help="database schema")
    db = p.add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="create or upgrade the schema to the newest revision")
    p.set_defaults(func=_cmd_db_upgrade)
    p = db.add_parser(
        "partitions",
        help="create the audit log's missing monthly partitions, this month and the next three "
        "(PostgreSQL; beat runs it daily)",
    )
    p.add_argument("--database-url", help="the database (default: DATABASE_URL, else embedded)")
    p.set_defaults(func=_cmd_db_partitions)
    archive_cli.add_parsers(db)

    p = sub.add_parser("audit", help="the audit log")
    audit = p.add_subparsers(dest="audit_command", required=True)
    p = audit.add_parser(
        "verify",
        help="check the audit log's hash chain; exit 1 naming the first entry that breaks it",
    )
    p.add_argument("--database-url", help="the database (default: DATABASE_URL, else embedded)")
    p.set_defaults(func=_cmd_audit_verify)

    models_cli.add_parser(sub)
    dataset_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
