"""The CDC live view and patient page through HTTP: what each officer sees, who is refused."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import anyio
import pytest
from cdc_helpers import released_world
from review_ui_helpers import user_named
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.tables import AuditEntry
from api.context import AppContext
from api.events import service as events
from api.events.service import Cursor
from api.public_ids import TEST, encode
from api.scope import scope_for
from review_ui.cdc.routes import _feed_stream

NORTH_DISTRICT = "DL-N-01-01"  # patient1 (positive) tests here
SOUTH_DISTRICT = "DL-S-02-01"  # patient2 (negative) tests here


@pytest.fixture
def released(session: Session, ctx: AppContext) -> dict[str, Any]:
    return released_world(session, ctx)


def svg_of(html: str, svg_id: str) -> ET.Element:
    start = html.index(f'id="{svg_id}"')
    start = html.rindex("<svg", 0, start)
    end = html.index("</svg>", start) + len("</svg>")
    return ET.fromstring(html[start:end])


def view_audits(session: Session, patient_id: int) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "view_patient", AuditEntry.object_id == str(patient_id)
            )
        )
    )


def test_strangers_are_sent_to_log_in_and_other_roles_refused(pages: Any) -> None:
    response = pages.get("/cdc", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/cdc"
    for username in ("clinician-north", "patient1", "maker", "operator", "scientist"):
        pages.log_in(username)
        for path in (
            "/cdc",
            "/cdc/panel",
            "/cdc/statistics.json",
            "/cdc/statistics/days.csv",
            "/cdc/cases/1",
            "/cdc/stream",
        ):
            assert pages.get(path).status_code == 403, (username, path)


def test_the_live_view_shows_the_officers_area_only(pages: Any, released: dict[str, Any]) -> None:
    pages.log_in("cdc-north")
    page = pages.get("/cdc")
    assert page.status_code == 200
    html = page.text
    # The feed: tests started in the north (patient 1, 3, 5 claimed there), none from the south.
    assert "Active test started" in html
    assert "Old Harbour" in html
    assert "Saltmarsh" not in html
    assert f"/cdc/cases/{encode(TEST, released['positive'].id)}" in html
    assert 'data-stream="/cdc/stream?after_id=' in html
    # Figures: the one released positive of the north.
    assert 'id="total-tests">1<' in html
    assert 'id="total-positive">1<' in html
    # The map draws the officer's district only, coloured by its rate per 100,000.
    map_svg = svg_of(html, "cdc-map")
    regions = map_svg.iter(f"{{{ET_NS}}}path")
    drawn = {p.get("data-code"): p for p in regions if p.get("class") == "region"}
    assert set(drawn) == {NORTH_DISTRICT}
    assert drawn[NORTH_DISTRICT].get("fill") not in ("#f7f7f7", "#d9d9d9")
    # (one positive among 412,000 people; the picture keeps one decimal)
    assert float(drawn[NORTH_DISTRICT].get("data-value") or 0) == round(1e5 / 412_000, 1)
    # Nothing focusable inside the picture: its regions are links in its table instead.
    assert map_svg.find(f".//{{{ET_NS}}}a") is None
    assert 'href="/cdc?since=' in html
    assert f"region={NORTH_DISTRICT}" in html
    for chart in ("chart-epicurve", "chart-tests", "chart-positivity", "chart-products"):
        svg_of(html, chart)  # present and well-formed
    # The headline figures of the last 7 days, with their change and an interval.
    for key in ("positives", "tests", "positivity", "rate"):
        assert f'id="headline-{key}"' in html
    assert "95% CI" in html
    assert "Only 1 readable test" in html  # the small-count caveat
    assert 'id="last-updated"' in html
    # No personal data on the overview.
    assert "Wang Fang" not in html


ET_NS = "http://www.w3.org/2000/svg"


def test_the_national_officer_sees_both_regions(pages: Any, released: dict[str, Any]) -> None:
    pages.log_in("cdc-national")
    html = pages.get("/cdc").text
    assert 'id="total-tests">2<' in html
    assert 'id="total-positive">1<' in html
    paths = [
        p for p in svg_of(html, "cdc-map").iter(f"{{{ET_NS}}}path") if p.get("class") == "region"
    ]
    assert len(paths) == 8  # every district of Demoland
    # The south's district had a negative only: zero positives, the zero colour.
    fills = {p.get("data-code"): p.get("fill") for p in paths}
    assert fills[SOUTH_DISTRICT] == "#f7f7f7"
    # By province: two regions on the map, the north one with the positive.
    by_province = pages.get("/cdc?level=province&metric=positivity").text
    provinces = {
        p.get("data-code"): p.get("data-value")
        for p in svg_of(by_province, "cdc-map").iter(f"{{{ET_NS}}}path")
        if p.get("class") == "region"
    }
    assert provinces == {"DL-N": "1", "DL-S": "0"}


def test_each_chart_has_its_table_and_the_downloads_match_the_api(
    pages: Any, released: dict[str, Any]
) -> None:
    pages.log_in("cdc-national")
    html = pages.get("/cdc").text
    for table in ("days", "areas", "products", "lots"):
        assert f"/cdc/statistics/{table}.csv?" in html
    areas = pages.get("/cdc/statistics/areas.csv")
    assert areas.status_code == 200
    assert areas.headers["content-type"].startswith("text/csv")
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(areas.text))}
    assert len(rows) == 8  # every district, tested or not
    assert rows[NORTH_DISTRICT]["positive"] == "1"
    assert rows[SOUTH_DISTRICT]["negative"] == "1"
    assert rows[NORTH_DISTRICT]["population"] == "412000"
    days = list(csv.DictReader(io.StringIO(pages.get("/cdc/statistics/days.csv").text)))
    assert len(days) == 30
    assert sum(int(d["tests"]) for d in days) == 2
    # A region filter narrows every table to that region.
    south = pages.get(f"/cdc/statistics/areas.csv?region={SOUTH_DISTRICT}").text
    assert [r["code"] for r in csv.DictReader(io.StringIO(south))] == [SOUTH_DISTRICT]
    # The JSON download is the API's summary for the same filters.
    figures = pages.get("/cdc/statistics.json").json()
    assert figures["totals"]["tests"] == 2
    assert {a["code"] for a in figures["areas"]} == set(rows)
    assert pages.get("/cdc/statistics/nonsense.csv").status_code == 422


def test_bad_filters_are_explained_not_fatal(pages: Any, released: dict[str, Any]) -> None:
    pages.log_in("cdc-north")
    response = pages.get(f"/cdc?since=yesterday&region={SOUTH_DISTRICT}&level=planet")
    assert response.status_code == 200
    html = response.text
    assert "is not a date" in html
    assert "is not in your area" in html
    assert "is not available here" in html
    # The south stays invisible to the north even when asked for.
    csv_text = pages.get(f"/cdc/statistics/areas.csv?region={SOUTH_DISTRICT}").text
    assert SOUTH_DISTRICT not in csv_text


def test_the_panel_is_a_fragment_for_htmx(pages: Any, released: dict[str, Any]) -> None:
    pages.log_in("cdc-north")
    fragment = pages.get("/cdc/panel?metric=positivity", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="cdc-panel"')
    assert "<html" not in fragment.text
    assert 'hx-trigger="vigil:positive from:body' in fragment.text


def test_the_patient_page_shows_identity_and_audits_every_view(
    pages: Any, session: Session, released: dict[str, Any]
) -> None:
    positive = released["positive"]
    pages.log_in("cdc-north")
    html = pages.get(f"/cdc/cases/{encode(TEST, positive.id)}").text
    assert "Wang Fang" in html
    assert "+8613800138001" in html  # E.164, as stored
    assert "Old Harbour" in html
    assert svg_of(html, "case-map").find(f".//{{{ET_NS}}}circle") is not None
    assert len(view_audits(session, positive.patient_id)) == 1
    pages.get(f"/cdc/cases/{encode(TEST, positive.id)}")
    audits = view_audits(session, positive.patient_id)
    assert len(audits) == 2
    assert audits[0].actor_id == user_named(session, "cdc-north").id
    assert audits[0].detail["test"] == positive.id
    pages.log_in("cdc-national")
    assert pages.get(f"/cdc/cases/{encode(TEST, positive.id)}").status_code == 200
    assert len(view_audits(session, positive.patient_id)) == 3


def test_the_patient_page_is_refused_outside_the_scope_and_for_non_positives(
    pages: Any, session: Session, released: dict[str, Any]
) -> None:
    positive, negative = released["positive"], released["negative"]
    pages.log_in("cdc-south")
    refused = pages.get(f"/cdc/cases/{encode(TEST, positive.id)}")
    assert refused.status_code == 404  # outside the office's regions: as if absent
    assert "Wang Fang" not in refused.text
    assert view_audits(session, positive.patient_id) == []
    pages.log_in("cdc-national")
    assert pages.get(f"/cdc/cases/{encode(TEST, negative.id)}").status_code == 404
    assert pages.get("/cdc/cases/999999").status_code == 404


def test_the_feed_stream_sends_the_officers_events_with_region_names(
    ctx: AppContext, session: Session, released: dict[str, Any]
) -> None:
    """The page's event source: only feed events in scope, each ready to show."""
    officer = user_named(session, "cdc-north")
    scope = scope_for(session, ctx, officer)
    events.publish(session, "something.else", NORTH_DISTRICT, {"test_id": 1})
    session.commit()

    class Request:
        calls = 0

        async def is_disconnected(self) -> bool:
            self.calls += 1
            return self.calls > 3

    async def collect() -> list[dict[str, str]]:
        cursor = Cursor(0)
        return [m async for m in _feed_stream(Request(), ctx, scope, cursor)]  # type: ignore[arg-type]

    messages = anyio.run(collect)
    kinds = [m["event"] for m in messages]
    assert set(kinds) == {"test.started", "report.positive"}
    items = [json.loads(m["data"]) for m in messages]
    assert {i["region_name"] for i in items} == {"Old Harbour"}
    positive = next(i for i in items if i["kind"] == "positive")
    assert positive["case_url"] == f"/cdc/cases/{encode(TEST, released['positive'].id)}"
    # The SSE id is the stream's sealed cursor; the item shows the event's public id.
    assert all(Cursor.parse(m["id"]) is not None for m in messages)
    assert all(i["id"].startswith("evt_") for i in items)
