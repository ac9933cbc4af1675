"""The ``vigil read`` command: one JSON reading per photo, clear errors for bad kits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datasets.render import render_photo
from pipeline.kit import load_kit
from vigil.cli import main

DEMO = Path(__file__).resolve().parents[2] / "datasets" / "kits" / "demo" / "kit.json"


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kit = load_kit(DEMO)
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    photo = render_photo(
        kit, rng, od={"T": 0.3, "C": 0.6}, code="K7QX-9M2D-AB3F-GH45J", size=(1600, 1200)
    )
    (folder / "positive.jpg").write_bytes(photo.jpeg)
    (folder / "notes.txt").write_text("not a photo")  # not a photo suffix: skipped in folders
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return folder


def test_reads_a_folder_one_json_line_per_photo(photo_dir: Path, capsys, tmp_path: Path) -> None:
    code = main(["read", "--kit", str(DEMO), "--explain", str(tmp_path / "ex"), str(photo_dir)])
    lines = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    assert code == 0
    by_name = {Path(r["image"]).name: r for r in lines}
    assert set(by_name) == {"positive.jpg", "broken.png"}
    good = by_name["positive.jpg"]
    assert good["spec"] == "rdt-reading/1"
    assert good["status"] == "ok", good["quality"]
    assert good["result"] == "positive"
    assert good["code"] == "K7QX-9M2D-AB3F-GH45J"
    assert by_name["broken.png"]["status"] == "retake"
    assert by_name["broken.png"]["quality"]["issues"]  # says why, in words
    assert (tmp_path / "ex" / "positive.window.png").stat().st_size > 0
    assert (tmp_path / "ex" / "positive.profile.png").stat().st_size > 0


def test_image_is_the_path_as_given(photo_dir: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(photo_dir)
    assert main(["read", "--kit", str(DEMO), "positive.jpg"]) == 0
    assert json.loads(capsys.readouterr().out)["image"] == "positive.jpg"


def test_missing_photo_is_reported_and_the_rest_still_read(photo_dir: Path, capsys) -> None:
    code = main(["read", "--kit", str(DEMO), "nowhere.jpg", str(photo_dir / "positive.jpg")])
    out = capsys.readouterr()
    assert code == 1
    assert "nowhere.jpg: no such file or folder" in out.err
    assert len(out.out.splitlines()) == 1


@pytest.mark.parametrize(
    ("kit_text", "message"),
    [
        (None, "kit description not found"),
        ("{", "not valid JSON"),
        ('{"spec": "rdt-kit/1"}', "product_code: required field is missing"),
    ],
)
def test_bad_kit_is_a_clear_error(kit_text, message, tmp_path: Path, photo_dir: Path, capsys):
    kit = tmp_path / "kit.json"
    if kit_text is not None:
        kit.write_text(kit_text)
    assert main(["read", "--kit", str(kit), str(photo_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_serve_help_documents_the_data_folder_and_the_public_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--data-dir" in text
    assert "VIGIL_DATA_DIR" in text
    assert "--public-url" in text
    assert "QR links" in text
    assert "http://HOST:PORT as served" in text


def test_serve_without_a_database_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://vigil@127.0.0.1:9/vigil")
    assert main(["serve", "--data-dir", str(tmp_path)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("vigil serve: cannot reach the database:")
    assert len(err.splitlines()) == 1
