"""The issue's loop on a small set, through the server's own services and the real pipeline:
seed confirmed cases (reads by eye included), export, train a candidate, evaluate it against a
champion that is weaker for a known reason, promote the candidate because the safety figures
say it is better, refuse a deliberately worse model, run a challenger in the shadow, roll back
in one request. Every stored reading names the model version that made it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.accounts import service as accounts
from api.accounts.tables import Role, User
from api.config import new_secrets
from api.datasets import service as datasets
from api.datasets.schemas import ExportSelection
from api.db.base import utcnow
from api.model_registry import service, shadow
from api.model_registry.schemas import PromoteIn, ReasonIn, VersionRegister
from api.model_registry.tables import ShadowReading
from api.readings import service as readings
from api.reviews.schemas import ReviewIn
from api.reviews.service import decide
from api.scope import scope_for
from api.selftests.queries import latest_proposal
from api.selftests.tables import Proposal
from datasets.generate import generate
from models.registry import current_band_model
from training import evaluate, mixed, train
from training.perturb import weaken_evidence

DEMO_KIT = Path(__file__).resolve().parents[3] / "datasets" / "kits" / "demo" / "kit.json"
# The model a fresh server reads with: the shipped registry's current one.
SHIPPED_VERSION = current_band_model().version


class Site:
    """Patients photograph units; clinicians read until each reading takes effect."""

    def __init__(self, world: Any) -> None:
        self.w = world
        self.next_code = 0
        self.readers = [world.clinician_a] + [
            accounts.create_user(
                world.session,
                username=f"reader-{i}",
                password="correct horse battery",
                role=Role.clinician,
                display_name=f"Reader {i}",
                institution_id=world.institution_a.id,
            )
            for i in (2, 3)
        ]

    def photograph(self, photo: bytes) -> Any:
        from api.patients.schemas import Claim
        from api.patients.service import claim, sample_applied

        w = self.w
        lat, lon = w.point_a
        code = w.codes[self.next_code]
        self.next_code += 1
        test = claim(w.session, w.ctx, w.patient_a, Claim(code=code, latitude=lat, longitude=lon))
        # The sample went on 20 minutes ago: the photo falls inside the kit's read window.
        sample_applied(w.session, w.patient_a, test.id, utcnow() - timedelta(minutes=20))
        w.session.commit()
        readings.upload_photo(
            w.session, w.ctx, w.patient_a, test.id, photo, idempotency_key=None, taken_at=None
        )
        w.session.commit()  # read in-process once committed
        w.session.expire_all()
        return latest_proposal(w.session, test.id)

    def confirm(self, proposal: Any, truth: str) -> None:
        """Each reader in turn reads ``truth`` until a reading takes effect."""
        w = self.w
        for reader in self.readers:
            w.session.refresh(proposal)
            if proposal.review_stage is None:
                return
            if proposal.status == "retake":
                return
            if proposal.status == "by_eye" or proposal.result == truth:
                body = ReviewIn(decision="confirm", result=truth)
            else:
                body = ReviewIn(decision="change", result=truth, reason="read on the photo")
            decide(w.session, w.ctx, reader, scope_for(w.session, w.ctx, reader), proposal.id, body)
            w.session.commit()


@pytest.fixture
def keys() -> dict[str, str]:
    """A fixed server key: the export's unit ids are keyed hashes of it, and the split into
    training and held-out units follows them. With a fresh key each run the held-out cases
    changed from run to run, and now and then held no invalid unit to measure."""
    return {**new_secrets(), "secret_key": "whole-loop-test-key-not-a-secret-0123456789abcdef"}


@pytest.fixture
def world(ctx: Any, session: Any, world_builder: Callable[..., Any]) -> Any:
    """The usual world with units enough for every photo the loop may take."""
    return world_builder(ctx, session, quantity=60)


def _photos(out: Path, n: int, seed: int, **kw: Any) -> list[tuple[bytes, dict[str, Any]]]:
    generate(out, [DEMO_KIT], n, seed, size=(960, 720), flaw_rate=0.0, progress=False, **kw)
    records = [json.loads(t) for t in (out / "labels.jsonl").read_text().splitlines()]
    return [((out / r["image"]).read_bytes(), r) for r in records]


#: Synthetic training photos of both trained models (seeded: the same rows each run).
SYNTHETIC = {"seed": 3, "photos": 160, "kits": 8}
#: Their rendered line features, kept as ``training.mixed --synthetic-cache`` keeps them:
#: rendering them is most of this test's time otherwise. After a change to the renderer or
#: the line features, delete the file and run
#: ``python -c "from pathlib import Path; from training.mixed import synthetic_dataset;
#: synthetic_dataset(3, 160, 8, cache=Path('tests/api/model_registry/synthetic_rows'))"``.
SYNTHETIC_ROWS = Path(__file__).parent / "synthetic_rows"


def weak_champion(cache: Path, version: str) -> bytes:
    """A model taught by a reader who misses faint lines: the same synthetic photos as the
    candidate, but every present test line fainter than the faint band's top (OD 0.05)
    labelled absent. It reads strong lines well and misses faint ones, confidently."""
    data = mixed.synthetic_dataset(
        SYNTHETIC["seed"], SYNTHETIC["photos"], SYNTHETIC["kits"], cache=cache
    )
    faint_top = {name: high for name, _low, high in train.OD_BANDS}["faint"]
    missed = np.where((data.role == 0) & (data.od < faint_top), 0.0, data.od)
    mislabelled = train.Dataset(data.x, missed, data.role, data.photo, data.kit)
    return train.to_onnx(train.fit(mislabelled, SYNTHETIC["seed"]), version)


def _rate(report: dict[str, Any], role: str, figure: str) -> float:
    """A figure on the synthetic set (a KeyError when it was not measured at all)."""
    return float(report["sets"]["synthetic"]["metrics"][role][figure]["rate"])


@pytest.mark.usefixtures("real_pipeline")
def test_the_whole_loop(
    world: Any,
    tmp_path: Path,
    registry_client: TestClient,
    bearer: Callable[[User], dict[str, str]],
) -> None:
    session, ctx = world.session, world.ctx
    scientist: User = world.scientist
    site = Site(world)

    # 1. Confirmed cases: the shipped model proposes (no champion in the database yet),
    #    clinicians read; what the pipeline could not read they read by eye (a second
    #    reader too), what it asked to retake no clinician confirms.
    #    Photos are taken in their seeded order until the set holds at least 12 and both
    #    kinds: how often the pipeline reads by eye or asks to retake is the pipeline's
    #    business (it improves), not this loop's, which needs one of each.
    #    After the first 12, units at the edge of what is readable: the widest real-world
    #    variation and trace test lines, where reads by eye come from.
    rendered = _photos(tmp_path / "site", 12, 41) + _photos(
        tmp_path / "unsure", 28, 43, variation="realworld-wide", od_mix={"trace": 1.0}
    )
    seeded: list[tuple[bytes, dict[str, Any]]] = []
    statuses = []
    for photo, truth in rendered:
        if len(seeded) >= 12 and {"by_eye", "retake"} <= set(statuses):
            break
        proposal = site.photograph(photo)
        assert proposal.model_version == SHIPPED_VERSION
        seeded.append((photo, truth))
        statuses.append(proposal.status)
        site.confirm(proposal, truth["result"])
    assert statuses.count("by_eye") >= 1, statuses
    assert statuses.count("retake") >= 1, statuses
    answered = len(seeded) - statuses.count("retake")

    # 2. Export: versioned, reproducible, with its datasheet.
    export_dir = tmp_path / "export"
    built = datasets.export(session, ctx, scientist, ExportSelection())
    built.write(export_dir)
    sheet = built.datasheet
    assert sheet["counts"]["cases"] == answered
    assert sheet["counts"]["read_by_eye"] >= statuses.count("by_eye")
    assert sheet["counts"]["per_model"][SHIPPED_VERSION] == answered
    assert datasets.build(session, ctx, ExportSelection()).content_hash == built.content_hash

    # 3. Train the candidate on synthetic photos (their stored rows) plus the exported cases,
    #    split by unit; ONNX parity checked.
    cache, trained_dir = SYNTHETIC_ROWS, tmp_path / "trained"
    assert len(list(cache.glob("synthetic-3-160-8-*.npz"))) == 1, "regenerate: see SYNTHETIC_ROWS"
    args = [f"--{k}={v}" for k, v in SYNTHETIC.items()] + ["--workers", "1"]
    args += ["--real", str(export_dir), "--heldout-units", "0.34"]
    args += ["--synthetic-cache", str(cache), "--out", str(trained_dir)]
    assert mixed.main([*args, "--version", "band-classifier@13"]) == 0
    info = json.loads((trained_dir / "band-classifier@13.metrics.json").read_text())
    split = info["n_real_cases"]
    assert split["train"] + split["heldout"] == answered
    assert split["train"] > 0
    assert split["heldout"] > 0
    assert info["n_lines"]["real_train"] > 0
    assert info["onnx_parity_max_abs"] < 1e-4
    assert built.content_hash in info["real_exports"]
    candidate = (trained_dir / "band-classifier@13.onnx").read_bytes()

    # 4. The registry: the weakened model is the first champion (nothing to compare with);
    #    the candidate and a deliberately worse copy of it are registered beside it.
    weak = weak_champion(cache, "band-classifier@12")
    worse = weaken_evidence(candidate, 0.25, "band-classifier@14")
    service.register(session, scientist, weak, VersionRegister(version="band-classifier@12"))
    assert service.promote(
        session, scientist, "band-classifier@12", PromoteIn(reason="the champion before")
    ).accepted
    service.register(
        session,
        scientist,
        candidate,
        VersionRegister(
            version="band-classifier@13",
            metrics=info["metrics"],
            training_data_hash=info["training_data_hash"],
            training_params={"command": info["command"]},
        ),
    )
    service.register(session, scientist, worse, VersionRegister(version="band-classifier@14"))
    session.commit()
    assert site.photograph(seeded[0][0]).model_version == "band-classifier@12"

    # 5. Evaluate the candidate against the champion: faint-heavy synthetic photos of new
    #    designs and the held-out real cases.
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
    cache_readings: evaluate.ReadingCache = {}
    contenders = {
        v: evaluate.Contender.from_bytes(data, v)
        for v, data in (
            ("band-classifier@12", weak),
            ("band-classifier@13", candidate),
            ("band-classifier@14", worse),
        )
    }

    def evaluation(version: str, champion: str) -> dict[str, Any]:
        report = evaluate.run(
            contenders[version],
            contenders[champion],
            tmp_path / version,
            synthetic=synthetic,
            real=trained_dir / "real-heldout",
            cache=cache_readings,
        )
        text = (tmp_path / version / "report.md").read_text()
        assert "kappa" in text
        assert "reliability_real.png" in text
        assert (tmp_path / version / "reliability_real.png").stat().st_size > 1000
        return report

    better = evaluation("band-classifier@13", "band-classifier@12")
    assert better["sets"]["real"]["n_photos"] == split["heldout"]
    # Better for the reason built in: the faint lines the champion was taught to miss
    # the candidate finds, and it makes fewer confident errors. Not a tie.
    for figure in ("sensitivity_trace", "sensitivity_faint"):
        assert _rate(better, "candidate", figure) > _rate(better, "champion", figure)
    errors = better["sets"]["synthetic"]["metrics"]
    assert (
        errors["candidate"]["confident_errors"]["k"] < errors["champion"]["confident_errors"]["k"]
    )

    # 6. The better candidate is promoted, because the rule finds no figure worse.
    promoted = service.promote(
        session,
        scientist,
        "band-classifier@13",
        PromoteIn(reason="synthetic + confirmed cases", evaluation=better),
    )
    assert promoted.accepted, promoted.decision
    assert promoted.previous_version == "band-classifier@12"
    assert all(v["passed"] for v in promoted.decision["verdicts"])  # type: ignore[index]
    session.commit()

    # 7. The deliberately worse copy is refused against the new champion, for the faint
    #    lines it misses; the refusal is kept, the champion stays.
    worse_report = evaluation("band-classifier@14", "band-classifier@13")
    refused = service.promote(
        session,
        scientist,
        "band-classifier@14",
        PromoteIn(reason="try the weakened copy", evaluation=worse_report),
    )
    assert not refused.accepted, refused.decision
    failed = {v["figure"] for v in refused.decision["verdicts"] if not v["passed"]}  # type: ignore[index]
    assert failed & {"sensitivity_trace", "sensitivity_faint"}
    assert service.alias_version(session, "band-classifier").number == 13  # type: ignore[union-attr]
    session.commit()
    live = _photos(tmp_path / "live", 3, 77, od_mix={"faint": 0.5, "trace": 0.5})
    assert site.photograph(live[0][0]).model_version == "band-classifier@13"

    # 8. Shadow: the worse copy reads beside the champion; stored, compared, never proposed.
    service.set_challenger(
        session, scientist, "band-classifier@14", ReasonIn(reason="shadow").reason
    )
    session.commit()
    proposals = [site.photograph(photo) for photo, _ in live[1:]]
    assert {p.model_version for p in proposals} == {"band-classifier@13"}
    every = shadow.readings(session, disagreeing_only=False)
    assert {s.proposal_id for s in every} == {p.id for p in proposals}
    assert {(s.challenger, s.champion) for s in every} == {
        ("band-classifier@14", "band-classifier@13")
    }
    assert shadow.counts(session)["band-classifier@14"]["readings"] == 2
    assert shadow.shadow_image(session, ctx, every[0].id, "photo")[0] == live[2][0]  # newest first

    # 9. Roll back in one request; the next photo is read by the champion before.
    back = registry_client.post(
        "/api/models/band-classifier/rollback",
        headers=bearer(scientist),
        json={"reason": "bad night on site"},
    )
    assert back.status_code == 200, back.text
    assert (back.json()["version"], back.json()["previous_version"]) == (
        "band-classifier@12",
        "band-classifier@13",
    )
    session.expire_all()
    assert site.photograph(live[0][0]).model_version == "band-classifier@12"
    history = service.history(session, "band-classifier")
    assert [(h.action, h.accepted, h.version) for h in history] == [
        ("rollback", True, "band-classifier@12"),
        ("challenger", True, "band-classifier@14"),
        ("promote", False, "band-classifier@14"),
        ("promote", True, "band-classifier@13"),
        ("promote", True, "band-classifier@12"),
    ]
    assert all(h.by == scientist.username for h in history)

    # 10. Every stored reading names the model that made it: the shipped model, then each
    #     champion in turn; the shadow readings the challenger.
    made_by = [p.model_version for p in session.query(Proposal).order_by(Proposal.id)]
    assert made_by == [SHIPPED_VERSION] * len(seeded) + [
        "band-classifier@12",
        *["band-classifier@13"] * 3,
        "band-classifier@12",
    ]
    assert {r.model_version for r in session.query(ShadowReading)} == {"band-classifier@14"}
