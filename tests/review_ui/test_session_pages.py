"""Log-in, log-out, redirects by role, CSRF: the foundation every page stands on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts.tables import AccessToken
from review_ui.session import SESSION_COOKIE, safe_next


def test_root_sends_strangers_to_the_log_in_page(pages: Any) -> None:
    response = pages.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_log_in_sets_an_http_only_lax_cookie_and_goes_home_by_role(pages: Any) -> None:
    response = pages.log_in("clinician-north")
    assert response.headers["location"] == "/review"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert pages.get("/", follow_redirects=False).headers["location"] == "/review"
    assert pages.log_in("patient1").headers["location"] == "/patient"
    assert pages.log_in("cdc-north").headers["location"] == "/cdc"
    assert pages.log_in("maker").headers["location"] == "/manufacturer"
    assert pages.log_in("operator").headers["location"] == "/operator"


def test_the_cookie_holds_a_real_api_token(pages: Any) -> None:
    pages.log_in("clinician-north")
    token = pages.client.cookies.get(SESSION_COOKIE)
    me = pages.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "clinician-north"


def test_a_wrong_password_says_so_and_opens_no_session(pages: Any) -> None:
    pages.get("/login")
    response = pages.post("/login", {"username": "clinician-north", "password": "nope-nope"})
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_the_log_in_page_locks_an_account_after_failures(pages: Any) -> None:
    pages.get("/login")
    for _ in range(5):
        wrong = pages.post("/login", {"username": "clinician-north", "password": "nope-nope"})
        assert wrong.status_code == 401
    right = pages.post("/login", {"username": "clinician-north", "password": "vigil-demo-2024"})
    assert right.status_code == 429
    assert "locked" in right.text
    assert int(right.headers["Retry-After"]) >= 1
    assert SESSION_COOKIE not in right.headers.get("set-cookie", "")


def test_log_in_without_the_csrf_token_is_refused(pages: Any) -> None:
    pages.get("/login")
    response = pages.client.post(
        "/login",
        data={"username": "clinician-north", "password": "vigil-demo-2024"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "Form expired" in response.text


def test_a_token_from_another_session_is_refused(pages: Any) -> None:
    pages.get("/login")
    stolen = pages.csrf
    pages.client.cookies.clear()  # a different browser: its own pre-session cookie
    pages.get("/login")
    response = pages.post(
        "/login",
        {"username": "clinician-north", "password": "vigil-demo-2024", "csrf_token": stolen},
    )
    assert response.status_code == 403


def test_a_post_from_another_origin_is_refused(pages: Any) -> None:
    pages.get("/login")
    response = pages.post(
        "/login",
        {"username": "clinician-north", "password": "vigil-demo-2024"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_after_log_in_the_csrf_token_is_bound_to_the_session(pages: Any) -> None:
    pages.log_in("clinician-north")
    before_login_token = pages.csrf
    pages.get("/login?next=/review")  # logged in: redirected, no form
    response = pages.post("/logout", {"csrf_token": before_login_token or "x"})
    assert response.status_code == 403


def test_log_out_revokes_the_token(pages: Any, session: Session) -> None:
    pages.log_in("clinician-north")
    token = pages.client.cookies.get(SESSION_COOKIE)
    assert "clinician-north" in pages.get("/account").text
    response = pages.post("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    session.expire_all()
    revoked = session.scalars(select(AccessToken.revoked_at)).all()
    assert any(r is not None for r in revoked)
    assert pages.client.get(
        "/api/me", headers={"Authorization": f"Bearer {token}"}
    ).status_code == (401)


def test_pages_require_a_session_and_come_back_after_log_in(pages: Any) -> None:
    response = pages.get("/account?tab=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account%3Ftab%3D1"
    pages.get(response.headers["location"])
    response = pages.post(
        "/login",
        {
            "username": "clinician-north",
            "password": "vigil-demo-2024",
            "next": "/account?tab=1",
        },
    )
    assert response.headers["location"] == "/account?tab=1"


def test_htmx_requests_without_a_session_get_a_full_page_redirect(pages: Any) -> None:
    response = pages.get("/account", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/login")


def test_next_never_leaves_the_site() -> None:
    assert safe_next("/review?x=1") == "/review?x=1"
    for evil in ("//evil.example", "https://evil.example/", "/\\evil.example", "", None, "review"):
        assert safe_next(evil) is None


def test_pages_carry_security_headers(pages: Any) -> None:
    response = pages.get("/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_static_files_and_the_pinned_htmx_are_served(pages: Any) -> None:
    page = pages.get("/login").text
    assert "/static/vendor/htmx-2.0.11.min.js?v=" in page
    assert pages.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200
    assert "https://" not in page.split("<body")[0]  # nothing from a CDN
