"""``vigil models`` on the configured database: register, refuse, promote, roll back, evaluate."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from api.accounts import service as accounts
from api.accounts.tables import Role
from api.config import Settings
from api.db import upgrade
from api.db.session import Database
from training.perturb import relabel, weaken_evidence
from vigil.cli import main

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "band-classifier@1.onnx"


def _evaluation(path: Path, candidate: bytes, champion: bytes, faint: int) -> str:
    def figures(k: int) -> dict[str, Any]:
        return {"sensitivity_faint": {"k": k, "n": 100}, "specificity": {"k": 50, "n": 50}}

    sha = {"candidate": candidate, "champion": champion}
    path.write_text(
        json.dumps(
            {
                "models": {r: {"sha256": hashlib.sha256(b).hexdigest()} for r, b in sha.items()},
                "comparison": {"set": {"candidate": figures(faint), "champion": figures(97)}},
            }
        )
    )
    return str(path)


def test_models_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings().with_keys()
    upgrade(settings)
    with Database.from_url(settings.resolved_database_url).transaction() as session:
        accounts.create_user(
            session,
            username="ds",
            password="correct horse battery",
            role=Role.data_scientist,
            display_name="DS",
        )
        accounts.create_user(
            session,
            username="op",
            password="correct horse battery",
            role=Role.operator,
            display_name="Op",
        )

    shipped = SHIPPED.read_bytes()
    weak, equal = (
        weaken_evidence(shipped, 0.25, "band-classifier@22"),
        relabel(shipped, "band-classifier@23"),
    )
    (tmp_path / "weak.onnx").write_bytes(weak)
    (tmp_path / "equal.onnx").write_bytes(equal)

    assert main(["models", "register", str(SHIPPED), "--by", "op"]) == 2
    assert "not an active data-scientist" in capsys.readouterr().err
    for file in (str(SHIPPED), str(tmp_path / "weak.onnx"), str(tmp_path / "equal.onnx")):
        assert main(["models", "register", file, "--by", "ds"]) == 0
    assert main(["models", "promote", "band-classifier@1", "--by", "ds", "--reason", "ship"]) == 0
    capsys.readouterr()

    worse = _evaluation(tmp_path / "w.json", weak, shipped, faint=80)
    code = main(
        [
            "models",
            "promote",
            "band-classifier@22",
            "--evaluation",
            worse,
            "--by",
            "ds",
            "--reason",
            "try it",
        ]
    )
    assert code == 1
    assert "refused" in capsys.readouterr().out
    same = _evaluation(tmp_path / "s.json", equal, shipped, faint=97)
    assert (
        main(
            [
                "models",
                "promote",
                "band-classifier@23",
                "--evaluation",
                same,
                "--by",
                "ds",
                "--reason",
                "rebuilt",
            ]
        )
        == 0
    )
    assert main(["models", "rollback", "--by", "ds", "--reason", "undo"]) == 0
    assert main(["models", "rollback", "--by", "ds", "--reason", "undo"]) == 2
    assert "no earlier champion" in capsys.readouterr().err

    assert main(["models", "history"]) == 0
    history = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(h["action"], h["accepted"], h["version"]) for h in history] == [
        ("rollback", True, "band-classifier@1"),
        ("promote", True, "band-classifier@23"),
        ("promote", False, "band-classifier@22"),
        ("promote", True, "band-classifier@1"),
    ]
    assert main(["models", "list"]) == 0
    listed = {
        v["version"]: v["aliases"] for v in map(json.loads, capsys.readouterr().out.splitlines())
    }
    assert listed["band-classifier@1"] == ["champion"]

    # Evaluate a registered version against the database's champion on a few fresh photos.
    out = tmp_path / "eval"
    code = main(
        [
            "models",
            "evaluate",
            "--candidate",
            "band-classifier@23",
            "--n",
            "3",
            "--kits",
            "1",
            "--size",
            "800x600",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert report["models"]["champion"]["version"] == "band-classifier@1"
    assert report["models"]["candidate"]["sha256"] == hashlib.sha256(equal).hexdigest()
    assert report["decision"]["accepted"]  # the same weights read the same
