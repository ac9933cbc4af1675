"""``vigil dataset export`` on the configured database: a data scientist's, reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.accounts import service as accounts
from api.accounts.tables import Role
from api.config import Settings
from api.db import upgrade
from api.db.session import Database
from vigil.cli import main


def test_dataset_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings().with_keys()
    upgrade(settings)
    with Database.from_url(settings.resolved_database_url).transaction() as session:
        for username, role in (("ds", Role.data_scientist), ("op", Role.operator)):
            accounts.create_user(
                session,
                username=username,
                password="correct horse battery",
                role=role,
                display_name=username,
            )

    args = ["dataset", "export", "--since", "2026-01-01", "--product", "ACME"]
    assert main([*args, "--out", str(tmp_path / "a"), "--by", "ds"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_cases"] == 0
    assert summary["version"] == f"confirmed-cases@{summary['content_hash'][:12]}"
    sheet = json.loads((tmp_path / "a" / "datasheet.json").read_text())
    assert sheet["parameters"] == {
        "since": "2026-01-01",
        "until": None,
        "products": ["ACME"],
        "regions": [],
    }
    assert main([*args, "--out", str(tmp_path / "b"), "--by", "ds"]) == 0
    capsys.readouterr()
    assert (tmp_path / "b" / "datasheet.json").read_bytes() == (
        tmp_path / "a" / "datasheet.json"
    ).read_bytes()

    assert main([*args, "--out", str(tmp_path / "a"), "--by", "ds"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "c"), "--by", "op"]) == 2
    assert "not an active data-scientist" in capsys.readouterr().err
    assert (
        main(
            [
                "dataset",
                "export",
                "--out",
                str(tmp_path / "d"),
                "--since",
                "2026-02-01",
                "--until",
                "2026-01-01",
                "--by",
                "ds",
            ]
        )
        == 2
    )
    assert "since must not be after until" in capsys.readouterr().err

    # Train on synthetic photos plus the export (empty here) and register as the scientist.
    code = main(
        [
            "models",
            "train",
            "--out",
            str(tmp_path / "models"),
            "--by",
            "ds",
            "--",
            "--photos",
            "6",
            "--kits",
            "2",
            "--workers",
            "1",
            "--real",
            str(tmp_path / "a"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    registered = json.loads(out[-1])
    # Numbered past the shipped models (models/registry.json), whose labels stay theirs.
    assert registered["version"] == "band-classifier@4"
    info = json.loads((tmp_path / "models" / "band-classifier@4.metrics.json").read_text())
    assert registered["training_data_hash"] == info["training_data_hash"]
    assert info["real_exports"] == [summary["content_hash"]]
    assert info["onnx_parity_max_abs"] < 1e-4
