"""``vigil models``: the model registry of the configured database, from the command line.

``list``, ``history``, ``register``, ``promote``, ``rollback``, ``challenger`` act through
:mod:`api.model_registry.service` (what the API does), as the named data-scientist
account (``--by``); ``evaluate`` wraps :mod:`training.evaluate` and ``train`` wraps
:mod:`training.mixed` (synthetic photos plus exported real cases, ONNX parity
checked), registering what it trained when ``--by`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session


class CliError(Exception):
    """A refusal to print (exit status 2)."""


@contextmanager
def _transaction() -> Iterator[Session]:
    from api.config import Settings
    from api.db import upgrade
    from api.db.session import Database

    settings = Settings().with_keys()
    upgrade(settings)
    database = Database.from_url(settings.resolved_database_url)
    with database.transaction() as session:
        yield session


def scientist_account(session: Session, username: str) -> Any:
    from api.accounts.queries import user_by_username
    from api.accounts.tables import Role

    user = user_by_username(session, username)
    if user is None or not user.active or user.role != Role.data_scientist:
        raise CliError(f"--by {username!r}: not an active data-scientist account")
    return user


def _print(value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _print(item)
        return
    print(value.model_dump_json() if hasattr(value, "model_dump_json") else json.dumps(value))


def _json_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"{path}: {exc}") from None
    if not isinstance(value, dict):
        raise CliError(f"{path}: not a JSON object")
    return value


def _list(args: argparse.Namespace) -> int:
    from api.model_registry import service

    with _transaction() as session:
        _print(service.list_versions(session, args.name))
    return 0


def _history(args: argparse.Namespace) -> int:
    from api.model_registry import service

    with _transaction() as session:
        _print(service.history(session, args.name))
    return 0


def _register_file(
    session: Session, user: Any, path: Path, version: str | None, info: dict[str, Any]
) -> Any:
    from api.model_registry import service
    from api.model_registry.schemas import VersionRegister

    # A training run's metrics file holds the held-out metrics and how it was made.
    metrics = info.pop("metrics", {}) if "metrics" in info else {}
    params = {k: v for k, v in info.items() if k not in ("sha256", "file", "size_bytes")}
    # Synthetic data are a function of their generation parameters: hash those.
    generation = {k: info.get(k) for k in ("seed", "n_photos", "n_kits", "variation", "command")}
    data_hash = info.get("training_data_hash") or (
        hashlib.sha256(json.dumps(generation, sort_keys=True).encode()).hexdigest()
        if info
        else None
    )
    body = VersionRegister(
        version=version, metrics=metrics, training_params=params, training_data_hash=data_hash
    )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    return service.register(session, user, data, body)


def _register(args: argparse.Namespace) -> int:
    info = _json_file(args.metrics)
    with _transaction() as session:
        user = scientist_account(session, args.by)
        _print(_register_file(session, user, Path(args.file), args.version, info))
    return 0


def _promote(args: argparse.Namespace) -> int:
    from api.model_registry import service
    from api.model_registry.schemas import PromoteIn

    evaluation = _json_file(args.evaluation) or None
    with _transaction() as session:
        user = scientist_account(session, args.by)
        change = service.promote(
            session, user, args.version, PromoteIn(reason=args.reason, evaluation=evaluation)
        )
    # Committed either way: a refused attempt is part of the record.
    print((change.decision or {}).get("summary", ""))
    _print(change)
    return 0 if change.accepted else 1


def _rollback(args: argparse.Namespace) -> int:
    from api.model_registry import service

    with _transaction() as session:
        _print(
            service.rollback(session, scientist_account(session, args.by), args.name, args.reason)
        )
    return 0


def _challenger(args: argparse.Namespace) -> int:
    from api.model_registry import service

    with _transaction() as session:
        user = scientist_account(session, args.by)
        _print(service.set_challenger(session, user, args.version, args.reason))
    return 0


def _contender(session: Session, ref: str) -> Any:
    """An .onnx path, a version in the database, or one in models/registry.json."""
    from api.model_registry import queries, service
    from training.evaluate import Contender, load_contender

    if "@" in ref and not ref.endswith(".onnx"):
        name, number = service.parse_version(ref)
        found = queries.version_by_number(session, name, number)
        if found is not None:
            return Contender.from_bytes(found.onnx, ref)
    return load_contender(ref)


def _evaluate(args: argparse.Namespace) -> int:
    from api.model_registry import service
    from training.evaluate import Contender, run_args

    with _transaction() as session:
        candidate = _contender(session, args.candidate)
        if args.champion:
            champion = _contender(session, args.champion)
        else:
            current = service.alias_version(session, "band-classifier")
            champion = (
                Contender.from_bytes(current.onnx, service.label(current)) if current else None
            )
    return run_args(args, candidate, champion)


def _train(args: argparse.Namespace) -> int:
    from api.model_registry import service
    from training import mixed

    extra = [a for a in args.train_args if a != "--"]
    out = Path(args.out)
    version = args.version
    if version is None:
        with _transaction() as session:
            version = service.next_version(session)
    # Synthetic photos plus any exported real cases (--real); the database is the registry.
    status = mixed.main([*extra, "--out", str(out), "--version", version])
    if status != 0 or not args.by:
        return status
    info = _json_file(str(out / f"{version}.metrics.json"))
    with _transaction() as session:
        user = scientist_account(session, args.by)
        _print(_register_file(session, user, out / f"{version}.onnx", version, info))
    return 0


def guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The command, with refusals printed in words (exit status 2) instead of a traceback."""

    def run(args: argparse.Namespace) -> int:
        from pydantic import ValidationError

        from api.errors import DomainError

        try:
            return command(args)
        except (CliError, DomainError) as exc:
            print(f"vigil: {exc}", file=sys.stderr)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            print(f"vigil: {problems}", file=sys.stderr)
        return 2

    return run


def add_parser(sub: Any) -> None:
    """Add ``models`` and its subcommands to the ``vigil`` parser's subparsers."""
    p = sub.add_parser("models", help="model registry: list, register, evaluate, promote, ...")
    models = p.add_subparsers(dest="models_command", required=True)

    def by(q: argparse.ArgumentParser) -> None:
        q.add_argument("--by", required=True, help="the data-scientist account acting")

    q = models.add_parser("list", help="model versions and their aliases")
    q.add_argument("--name", default=None)
    q.set_defaults(func=guarded(_list))

    q = models.add_parser("history", help="every alias change, refused promotions included")
    q.add_argument("name", nargs="?", default="band-classifier")
    q.set_defaults(func=guarded(_history))

    q = models.add_parser("register", help="store an ONNX band model as a new version")
    q.add_argument("file", help="the .onnx file")
    q.add_argument("--version", default=None, help="name@number (default: the file's own)")
    q.add_argument("--metrics", default=None, help="the training run's <version>.metrics.json")
    by(q)
    q.set_defaults(func=guarded(_register))

    q = models.add_parser("promote", help="make a version the champion if the safety rule allows")
    q.add_argument("version", help="name@number")
    q.add_argument("--evaluation", default=None, help="evaluation.json against the champion")
    q.add_argument("--reason", required=True)
    by(q)
    q.set_defaults(func=guarded(_promote))

    q = models.add_parser("rollback", help="make the previous champion the champion again")
    q.add_argument("name", nargs="?", default="band-classifier")
    q.add_argument("--reason", required=True)
    by(q)
    q.set_defaults(func=guarded(_rollback))

    q = models.add_parser("challenger", help="name the version to run beside the champion")
    q.add_argument("version")
    q.add_argument("--reason", required=True)
    by(q)
    q.set_defaults(func=guarded(_challenger))

    from training.evaluate import build_parser

    q = models.add_parser("evaluate", help="candidate vs champion (default: the database's)")
    build_parser(q)
    q.set_defaults(func=guarded(_evaluate))

    q = models.add_parser(
        "train",
        help="train on synthetic + exported real cases (training.mixed); --by registers it",
    )
    q.add_argument("--out", default="var/models", help="where the files go")
    q.add_argument("--version", default=None, help="default: the next free number")
    q.add_argument("--by", default=None, help="register it in the database as this account")
    q.add_argument(
        "train_args", nargs=argparse.REMAINDER, help="-- then training.mixed's options (--real DIR)"
    )
    q.set_defaults(func=guarded(_train))
