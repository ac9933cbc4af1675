"""The examples in the security modules' docstrings hold.

The project's test paths do not collect doctests under ``api/``, and these
examples are the quickest way for whoever wires the modules in to see how each
is called, so they are run here.
"""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from api.security import images, json_guard, names, otp, passwords, ratelimit


@pytest.mark.parametrize(
    "module",
    [images, json_guard, names, otp, passwords, ratelimit],
    ids=lambda module: module.__name__,
)
def test_docstring_examples_hold(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
