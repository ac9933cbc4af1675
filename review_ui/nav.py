"""The navigation links each role sees in the page header.

Each page package owns its role's entries; keep paths in step with the routes.
"""

from __future__ import annotations

from typing import NamedTuple

from api.accounts.schemas import Principal, Role


class NavLink(NamedTuple):
    label: str
    href: str


NAV: dict[str, tuple[NavLink, ...]] = {
    Role.clinician: (
        NavLink("Review queue", "/review"),
        NavLink("My statistics", "/review/stats"),
    ),
    Role.patient: (NavLink("My tests", "/patient"), NavLink("Start a test", "/patient/scan")),
    Role.cdc_officer: (NavLink("Live view", "/cdc"),),
    Role.manufacturer: (NavLink("Products and batches", "/manufacturer"),),
    Role.operator: (NavLink("Operations", "/operator"), NavLink("Readers", "/review/team")),
    Role.data_scientist: (
        NavLink("Models", "/science"),
        NavLink("Shadow disagreements", "/science/shadow"),
        NavLink("Drift", "/science/drift"),
        NavLink("API documentation", "/docs"),
    ),
}


def nav_for(user: Principal | None) -> tuple[NavLink, ...]:
    if user is None:
        return ()
    return NAV.get(user.role, ())
