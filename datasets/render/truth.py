"""The truth record of a unit: line densities, fitness and the result by the kit's criteria."""

from __future__ import annotations

from typing import Any

from pipeline.kit import Kit

#: A line at or above this optical density counts as visible (present).
VISIBLE_OD = 0.01


def kit_truth(
    kit: Kit, od: dict[str, float], code: str | None, flaw: str | None = None
) -> dict[str, Any]:
    """The truth record of a unit with these line densities, by the kit's criteria.

    Invalid when any control line is below :data:`VISIBLE_OD`; otherwise a
    test line's analyte is positive when the line is visible (reactive) or
    not visible (``present_means: non-reactive``).

    Examples
    --------
    >>> from pipeline.kit import load_kit
    >>> kit = load_kit("datasets/kits/demo/kit.json")
    >>> t = kit_truth(kit, {"T": 0.03, "C": 0.5}, "X1")
    >>> t["result"], t["analytes"], t["fit"]
    ('positive', {'SARS-CoV-2 antigen': 'positive'}, True)
    >>> kit_truth(kit, {"T": 0.3, "C": 0.0}, "X1")["result"]
    'invalid'
    """
    ods = {line.name: round(float(od.get(line.name, 0.0)), 4) for line in kit.lines}
    valid = all(ods[line.name] >= VISIBLE_OD for line in kit.lines if line.role == "control")
    analytes: dict[str, str] = {}
    result = "invalid"
    if valid:
        for line in kit.lines:
            if line.role != "test":
                continue
            present = ods[line.name] >= VISIBLE_OD
            positive = present != (line.present_means == "non-reactive")
            name = line.analyte_name
            if positive or name not in analytes:
                analytes[name] = "positive" if positive else "negative"
        result = "positive" if "positive" in analytes.values() else "negative"
    return {
        "code": code,
        "fit": flaw is None,
        "flaw": flaw,
        "od": ods,
        "result": result,
        "analytes": analytes,
    }
