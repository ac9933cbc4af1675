"""The data scientist's loop, end to end on the CPU: render, train, evaluate, register,
refuse a worse model, promote an equal one, roll back; the history says who and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from api.accounts.tables import User
from api.errors import ConflictError, InvalidError
from api.model_registry import service
from api.model_registry.schemas import PromoteIn, VersionRegister
from datasets.generate import generate
from training import evaluate, train
from training.perturb import relabel, weaken_evidence


def test_the_loop(session: Session, scientist: User, shipped: bytes, tmp_path: Path) -> None:
    # A small synthetic set of new designs, faint lines first: where a worse model shows.
    synthetic = tmp_path / "eval-set"
    generate(
        synthetic,
        evaluate.new_kit_designs(5, 2),
        8,
        5,
        od_mix={"trace": 0.35, "faint": 0.35, "negative": 0.15, "invalid": 0.15},
        size=(960, 720),
        flaw_rate=0.0,
        progress=False,
    )

    # Train a tiny candidate with the real training code.
    trained_dir = tmp_path / "trained"
    args = ["--seed", "3", "--photos", "8", "--kits", "3", "--workers", "1"]
    assert (
        train.main(
            [*args, "--out", str(trained_dir), "--version", "band-classifier@4", "--no-register"]
        )
        == 0
    )
    trained = (trained_dir / "band-classifier@4.onnx").read_bytes()
    trained_info = json.loads((trained_dir / "band-classifier@4.metrics.json").read_text())

    # The shipped model is the first champion: nothing to compare with, so it is accepted.
    service.register(session, scientist, shipped, VersionRegister(metrics={"source": "shipped"}))
    first = service.promote(session, scientist, "band-classifier@1", PromoteIn(reason="shipped"))
    assert first.accepted

    candidates = {
        "band-classifier@22": weaken_evidence(shipped, 0.25, "band-classifier@22"),
        "band-classifier@23": relabel(shipped, "band-classifier@23"),
        "band-classifier@4": trained,
    }
    champion = evaluate.Contender.from_bytes(shipped)
    cache: evaluate.ReadingCache = {}  # the champion reads each photo once
    reports = {}
    for version, data in candidates.items():
        params = trained_info["params"] if version.endswith("@4") else "altered copy of @1"
        service.register(
            session,
            scientist,
            data,
            VersionRegister(version=version, metrics={}, training_params={"params": params}),
        )
        reports[version] = evaluate.run(
            evaluate.Contender.from_bytes(data),
            champion,
            tmp_path / version,
            synthetic=synthetic,
            cache=cache,
        )
        assert (tmp_path / version / "report.md").read_text().count("reliability_synthetic.png")
        assert (tmp_path / version / "reliability_synthetic.png").stat().st_size > 1000

    # The deliberately worse model is refused, for a safety reason, and the refusal is kept.
    weak = reports["band-classifier@22"]
    refused = service.promote(
        session,
        scientist,
        "band-classifier@22",
        PromoteIn(reason="try the weakened copy", evaluation=weak),
    )
    assert not refused.accepted
    assert refused.decision is not None
    reasons = [v for v in refused.decision["verdicts"] if not v["passed"]]
    assert reasons
    assert {v["figure"] for v in reasons} <= {
        "sensitivity_trace",
        "sensitivity_faint",
        "confident_errors",
        "specificity",
    }
    assert service.alias_version(session, "band-classifier").number == 1  # type: ignore[union-attr]

    # An evaluation of other files is not accepted as evidence.
    with pytest.raises(InvalidError, match="other files"):
        service.promote(
            session,
            scientist,
            "band-classifier@23",
            PromoteIn(reason="wrong evidence", evaluation=weak),
        )

    # The equal copy passes: same readings, ties are within tolerance.
    equal = service.promote(
        session,
        scientist,
        "band-classifier@23",
        PromoteIn(reason="same weights, rebuilt", evaluation=reports["band-classifier@23"]),
    )
    assert equal.accepted, equal.decision
    assert equal.previous_version == "band-classifier@1"
    champion, _challenger = service.runtime_models(session)
    assert champion is not None
    assert champion.version == "band-classifier@23"

    # The tiny trained model is judged by the same rule (whatever it learned from 8 photos).
    tiny = reports["band-classifier@4"]
    assert tiny["comparison"]["synthetic"]["candidate"]["n_photos"] == 8

    # Roll back in one call, and not beyond the first champion.
    back = service.rollback(session, scientist, "band-classifier", "bad night on site")
    assert (back.version, back.previous_version) == ("band-classifier@1", "band-classifier@23")
    assert service.alias_version(session, "band-classifier").number == 1  # type: ignore[union-attr]
    with pytest.raises(ConflictError, match="no earlier champion"):
        service.rollback(session, scientist, "band-classifier", "again")

    history = service.history(session, "band-classifier")
    assert [(h.action, h.accepted, h.version) for h in history] == [
        ("rollback", True, "band-classifier@1"),
        ("promote", True, "band-classifier@23"),
        ("promote", False, "band-classifier@22"),
        ("promote", True, "band-classifier@1"),
    ]
    assert all(h.by == "ds" for h in history)
    assert [h.reason for h in history][:3] == [
        "bad night on site",
        "same weights, rebuilt",
        "try the weakened copy",
    ]
