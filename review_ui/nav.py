"""The navigation links each role sees in the page header.

Each page package owns its role's entries; keep paths in step with the routes. Labels
are marked for the catalogue (``N_``); the layout shows them translated.
"""

from __future__ import annotations

from typing import NamedTuple

from api.accounts.schemas import Principal, Role
from review_ui.i18n import N_


class NavLink(NamedTuple):
    label: str
    href: str


NAV: dict[str, tuple[NavLink, ...]] = {
    Role.clinician: (
        NavLink(N_("Review queue"), "/review"),
        NavLink(N_("My statistics"), "/review/stats"),
    ),
    Role.patient: (
        NavLink(N_("My tests"), "/patient"),
        NavLink(N_("Start a test"), "/patient/scan"),
        NavLink(N_("How we tell you"), "/patient/account"),
    ),
    Role.cdc_officer: (NavLink(N_("Live view"), "/cdc"),),
    Role.manufacturer: (NavLink(N_("Products and batches"), "/manufacturer"),),
    Role.operator: (
        NavLink(N_("Operations"), "/operator"),
        NavLink(N_("Readers"), "/review/team"),
    ),
    Role.data_scientist: (
        NavLink(N_("Models"), "/science"),
        NavLink(N_("Shadow disagreements"), "/science/shadow"),
        NavLink(N_("Drift"), "/science/drift"),
        NavLink(N_("API documentation"), "/docs"),
    ),
}


def nav_for(user: Principal | None) -> tuple[NavLink, ...]:
    if user is None:
        return ()
    return NAV.get(user.role, ())
