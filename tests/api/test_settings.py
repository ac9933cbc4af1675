"""Settings: keys generated and kept in dev, required in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.config import Settings, SettingsError, new_secrets


def test_dev_mode_generates_keys_once_and_keeps_them(tmp_path: Path) -> None:
    first = Settings(mode="dev", data_dir=tmp_path).with_keys()
    second = Settings(mode="dev", data_dir=tmp_path).with_keys()
    assert first.pii_keys
    assert first.lookup_key
    assert first.secret_key
    assert (first.pii_keys, first.lookup_key) == (second.pii_keys, second.lookup_key)
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


HTTPS = {"public_base_url": "https://vigil.example.org"}


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PII_KEYS"):
        Settings(mode="production", data_dir=tmp_path, **HTTPS).with_keys()
    assert not (tmp_path / "secrets.json").exists()
    ready = Settings(mode="production", data_dir=tmp_path, **HTTPS, **new_secrets()).with_keys()
    assert ready.mode == "production"


def test_production_refuses_an_http_public_url(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="https"):
        Settings(mode="production", data_dir=tmp_path, **new_secrets()).with_keys()


def test_keys_must_be_base64(tmp_path: Path) -> None:
    keys = {**new_secrets(), "pii_keys": "not base64!"}
    with pytest.raises(SettingsError, match="PII_KEYS"):
        Settings(mode="production", data_dir=tmp_path, **HTTPS, **keys).with_keys()


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://db/vigil")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1234")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql+psycopg://db/vigil"
    assert not settings.eager_tasks
    assert settings.resolved_photo_dir == tmp_path / "photos"
    assert settings.max_upload_bytes == 1234
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("CELERY_BROKER_URL")
    embedded = Settings()
    assert embedded.resolved_database_url.startswith("sqlite:///")
    assert embedded.eager_tasks
