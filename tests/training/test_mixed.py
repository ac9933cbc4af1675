"""Mixed training's synthetic rows: rendered once, kept, read back as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training import mixed, train


def test_synthetic_rows_are_kept_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = mixed.synthetic_dataset(5, 3, 1, cache=tmp_path)
    kept = list(tmp_path.glob("synthetic-5-3-1-mild-*.npz"))
    assert len(kept) == 1
    assert not list(tmp_path.glob("*.partial.npz"))

    # Read back, not rendered again: a render now would fail.
    def no_render(*_args: object, **_kwargs: object) -> list[train.WindowSample]:
        raise AssertionError("rendered although the rows are kept")

    monkeypatch.setattr(train, "render_windows", no_render)
    again = mixed.synthetic_dataset(5, 3, 1, cache=tmp_path)
    for field in ("x", "od", "role", "photo", "kit"):
        assert np.array_equal(getattr(first, field), getattr(again, field)), field
    assert again.x.dtype == np.float32
    assert first.y.size > 0

    # Other arguments are other rows: never served from this file.
    with pytest.raises(AssertionError, match="rendered"):
        mixed.synthetic_dataset(5, 3, 1, variation="none", cache=tmp_path)
