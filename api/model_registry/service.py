"""Use cases of the model registry: register, promote (through the safety rule), roll back.

Every attempt to move an alias is recorded with who and why, a refused promotion
too: the caller commits whatever the outcome.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from api.accounts.tables import User
from api.audit.service import record
from api.db.base import utcnow
from api.errors import ConflictError, InvalidError, NotFoundError, TooLargeError
from api.model_registry import queries
from api.model_registry.schemas import (
    VERSION_PATTERN,
    AliasChangeOut,
    ModelVersionOut,
    PromoteIn,
    VersionRegister,
)
from api.model_registry.tables import (
    BAND_MODEL,
    CHALLENGER,
    CHAMPION,
    AliasChange,
    ModelAlias,
    ModelVersion,
)
from api.pagination import ALL, Window
from models.band_model import BandModel, BandModelError
from models.promotion import decide
from models.registry import shipped_files

MAX_MODEL_BYTES = 20 * 1024 * 1024


def label(version: ModelVersion) -> str:
    return f"{version.name}@{version.number}"


def parse_version(text: str) -> tuple[str, int]:
    """``"band-classifier@3"`` -> ``("band-classifier", 3)``."""
    if not re.fullmatch(VERSION_PATTERN, text):
        raise InvalidError(f"not a model version (name@number): {text[:120]!r}")
    name, number = text.split("@")
    return name, int(number)


def get_version(session: Session, ref: str) -> ModelVersion:
    """A version by ``name@number`` or by its public id."""
    found = (
        queries.version_by_number(session, *parse_version(ref))
        if "@" in ref
        else queries.version_by_public_id(session, ref)
    )
    if found is None:
        raise NotFoundError(f"no model version {ref[:120]!r}")
    return found


def _out(session: Session, version: ModelVersion) -> ModelVersionOut:
    names = sorted(a.alias for a in queries.aliases(session) if a.version_id == version.id)
    creator = session.get(User, version.created_by_id)
    return ModelVersionOut(
        id=version.public_id,
        version=label(version),
        sha256=version.sha256,
        size_bytes=version.size_bytes,
        metrics=version.metrics,
        training_data_hash=version.training_data_hash,
        training_params=version.training_params,
        aliases=names,
        created_by=creator.username if creator else "?",
        created_at=version.created_at,
    )


def _change_out(session: Session, change: AliasChange) -> AliasChangeOut:
    version = session.get(ModelVersion, change.version_id)
    previous = session.get(ModelVersion, change.previous_version_id or -1)
    by = session.get(User, change.by_id)
    assert version is not None
    return AliasChangeOut(
        alias=change.alias,
        action=change.action,
        accepted=change.accepted,
        version=label(version),
        previous_version=label(previous) if previous else None,
        reason=change.reason,
        decision=change.decision,
        by=by.username if by else "?",
        at=change.at,
    )


def register(session: Session, user: User, data: bytes, body: VersionRegister) -> ModelVersionOut:
    """Store a model file with its metrics and provenance as a new version."""
    if len(data) > MAX_MODEL_BYTES:
        raise TooLargeError(f"a model file may have at most {MAX_MODEL_BYTES} bytes")
    try:
        model = BandModel.from_bytes(data)
    except BandModelError as exc:
        raise InvalidError(f"not a usable band model: {exc}") from None
    sha = hashlib.sha256(data).hexdigest()
    existing = queries.version_by_sha256(session, sha)
    if existing is not None:
        raise ConflictError(f"this file is already registered as {label(existing)}")
    wanted = body.version or model.version
    if re.fullmatch(VERSION_PATTERN, wanted):
        name, number = parse_version(wanted)
    elif body.version is None:
        name, number = parse_version(next_version(session))
    else:
        raise InvalidError(f"not a model version (name@number): {wanted!r}")
    if queries.version_by_number(session, name, number) is not None:
        raise ConflictError(f"{name}@{number} is already registered (with another file)")
    if shipped_files().get(f"{name}@{number}", sha) != sha:
        # Readings name their model by label: two files under one label would make a
        # proposal's model unknowable.
        raise ConflictError(f"{name}@{number} is the label of a shipped model (another file)")
    version = ModelVersion(
        public_id=secrets.token_urlsafe(12),
        name=name,
        number=number,
        onnx=data,
        sha256=sha,
        size_bytes=len(data),
        metrics=body.metrics,
        training_data_hash=body.training_data_hash,
        training_params=body.training_params,
        created_by_id=user.id,
        created_at=utcnow(),
    )
    session.add(version)
    session.flush()
    record(
        session,
        user,
        "model.registered",
        "model_version",
        version.public_id,
        version=label(version),
        sha256=sha,
    )
    return _out(session, version)


def next_version(session: Session, name: str = "band-classifier") -> str:
    """The next free label of ``name``, past this registry's numbers and the shipped ones."""
    shipped = [parse_version(v)[1] for v in shipped_files() if v.startswith(f"{name}@")]
    return f"{name}@{max([queries.next_number(session, name), *(n + 1 for n in shipped)])}"


def list_versions(
    session: Session, name: str | None = None, window: Window = ALL
) -> list[ModelVersionOut]:
    return [_out(session, v) for v in queries.versions(session, name, window)]


def version_out(session: Session, ref: str) -> ModelVersionOut:
    return _out(session, get_version(session, ref))


def version_file(session: Session, ref: str) -> tuple[str, bytes]:
    """The version's label and its ONNX bytes."""
    version = get_version(session, ref)
    return label(version), version.onnx


def _move(
    session: Session, version: ModelVersion, alias_name: str
) -> tuple[ModelAlias, int | None]:
    row = queries.alias(session, version.name, alias_name)
    previous = row.version_id if row else None
    if row is None:
        row = ModelAlias(name=version.name, alias=alias_name, version_id=version.id)
        session.add(row)
    row.version_id = version.id
    row.updated_at = utcnow()
    return row, previous


def _record_change(
    session: Session,
    user: User,
    version: ModelVersion,
    *,
    alias_name: str,
    action: str,
    accepted: bool,
    previous_id: int | None,
    reason: str,
    decision: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
) -> AliasChange:
    change = AliasChange(
        name=version.name,
        alias=alias_name,
        action=action,
        accepted=accepted,
        version_id=version.id,
        previous_version_id=previous_id,
        reason=reason,
        decision=decision,
        evaluation=evaluation,
        by_id=user.id,
        at=utcnow(),
    )
    session.add(change)
    session.flush()
    record(
        session,
        user,
        f"model.{action}",
        "model_version",
        version.public_id,
        alias=alias_name,
        accepted=accepted,
        reason=reason,
    )
    return change


def _check_evaluation(
    evaluation: Mapping[str, Any], candidate: ModelVersion, champion: ModelVersion
) -> Mapping[str, Any]:
    """The evaluation's comparison, once it is shown to be of these two files."""
    try:
        models = evaluation["models"]
        shas = models["candidate"]["sha256"], models["champion"]["sha256"]
        comparison = evaluation["comparison"]
    except (KeyError, TypeError):
        raise InvalidError(
            "the evaluation must be a training.evaluate report with a candidate and a champion"
        ) from None
    if shas != (candidate.sha256, champion.sha256):
        raise InvalidError(
            f"the evaluation compares other files than {label(candidate)} (candidate) and the "
            f"current champion {label(champion)}: evaluate them again"
        )
    if not isinstance(comparison, Mapping):
        raise InvalidError("the evaluation has no comparison")
    return comparison


def promote(session: Session, user: User, ref: str, body: PromoteIn) -> AliasChangeOut:
    """Make a version the champion if the safety rule allows; the attempt is recorded either way.

    The rule (:func:`models.promotion.decide`) runs here on the evaluation's
    metrics: a verdict the evaluation carries is not trusted.
    """
    version = get_version(session, ref)
    current = queries.alias(session, version.name, CHAMPION)
    if current is not None and current.version_id == version.id:
        raise ConflictError(f"{label(version)} is already the champion")
    champion = session.get(ModelVersion, current.version_id) if current else None
    if champion is None:
        decision = decide(None)
    else:
        if body.evaluation is None:
            raise InvalidError(
                f"an evaluation against the champion {label(champion)} is needed to promote"
            )
        comparison = _check_evaluation(body.evaluation, version, champion)
        try:
            decision = decide(comparison)
        except (ValueError, TypeError, AttributeError) as exc:
            raise InvalidError(f"the evaluation's metrics cannot be judged: {exc}") from None
    if decision.accepted:
        _move(session, version, CHAMPION)
    change = _record_change(
        session,
        user,
        version,
        alias_name=CHAMPION,
        action="promote",
        accepted=decision.accepted,
        previous_id=champion.id if champion else None,
        reason=body.reason,
        decision=decision.to_json(),
        evaluation=body.evaluation,
    )
    return _change_out(session, change)


def rollback(session: Session, user: User, name: str, reason: str) -> AliasChangeOut:
    """Make the champion before the current one the champion again (one step back)."""
    current = queries.alias(session, name, CHAMPION)
    if current is None:
        raise ConflictError(f"{name} has no champion to roll back")
    promoted = queries.last_accepted_change_to(
        session, name, CHAMPION, current.version_id, "promote"
    )
    if promoted is None or promoted.previous_version_id is None:
        raise ConflictError(f"{name} has no earlier champion to roll back to")
    back = session.get(ModelVersion, promoted.previous_version_id)
    assert back is not None
    leaving = current.version_id  # read before the alias row moves
    _move(session, back, CHAMPION)
    change = _record_change(
        session,
        user,
        back,
        alias_name=CHAMPION,
        action="rollback",
        accepted=True,
        previous_id=leaving,
        reason=reason,
    )
    return _change_out(session, change)


def set_challenger(session: Session, user: User, ref: str, reason: str) -> AliasChangeOut:
    """Name the version that may run beside the champion (its readings never shown)."""
    version = get_version(session, ref)
    _row, previous = _move(session, version, CHALLENGER)
    change = _record_change(
        session,
        user,
        version,
        alias_name=CHALLENGER,
        action="challenger",
        accepted=True,
        previous_id=previous,
        reason=reason,
    )
    return _change_out(session, change)


def history(session: Session, name: str) -> list[AliasChangeOut]:
    """Every change of ``name``'s aliases, newest first, refused promotions included."""
    return [_change_out(session, c) for c in queries.changes(session, name)]


def alias_version(session: Session, name: str, alias_name: str = CHAMPION) -> ModelVersion | None:
    """The version an alias names now, or None."""
    row = queries.alias(session, name, alias_name)
    return session.get(ModelVersion, row.version_id) if row else None


_LOADED: dict[str, BandModel] = {}


def _runnable(version: ModelVersion | None) -> BandModel | None:
    """The version as a runnable model (loaded once per file), or None."""
    if version is None:
        return None
    if version.sha256 not in _LOADED:
        _LOADED[version.sha256] = BandModel.from_bytes(version.onnx, label(version))
    return _LOADED[version.sha256]


def runtime_models(
    session: Session,
    name: str = BAND_MODEL,
    named: tuple[str | None, str | None] | None = None,
) -> tuple[BandModel | None, BandModel | None]:
    """(champion, challenger) for reading a live photo; the challenger only when it differs.

    ``named``: the SHA-256 of the champion's and the challenger's files where the caller has
    asked them already (:func:`queries.alias_sha256`); when this process holds both files, no
    query is made. No champion: the caller falls back to the shipped model
    (:func:`models.registry.runtime_band_model`).
    """
    if named is not None and all(sha is None or sha in _LOADED for sha in named):
        champion, challenger = (None if sha is None else _LOADED[sha] for sha in named)
    else:
        # Both aliases in one query: this runs once per photo read.
        versions = queries.versions_named(session, name, (CHAMPION, CHALLENGER))
        champion = _runnable(versions.get(CHAMPION))
        challenger = _runnable(versions.get(CHALLENGER))
    if challenger is not None and champion is not None and challenger is champion:
        challenger = None  # the same file: nothing to compare
    return champion, challenger
