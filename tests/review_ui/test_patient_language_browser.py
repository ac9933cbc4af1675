"""The patient's path in Chromium, as the first users meet it: a Chinese phone gets Chinese
pages and can switch, the QR link's code survives registration (and a mistake in it), times
show in the phone's zone, and the channel chosen at registration carries the result message.

Screenshots at 360 x 780 go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from review_ui_helpers import (
    REGION_NORTH,
    Phones,
    fake_reading,
    send_photo,
    tiny_png,
    unused_code,
    user_named,
)
from sqlalchemy import select
from test_cdc_first_screen import axe_findings

from api.identity import make_test_id
from api.outbox.service import DESTINATION_CONTEXT
from api.outbox.tables import OutboxDelivery
from api.patients.queries import patient_by_user
from api.public_ids import TEST, decode
from api.reviews.schemas import ReviewIn
from api.reviews.service import decide
from api.scope import scope_for
from api.selftests.tables import SelfTest

pytest.importorskip("playwright.sync_api")

NARROW = {"width": 360, "height": 780}
CHINESE = {"locale": "zh-CN", "viewport": NARROW, "has_touch": True, "is_mobile": True}
# Far from the region's own zone (Asia/Shanghai, UTC+8), so a time in the wrong zone shows.
PHONE_ZONE = "America/New_York"


@pytest.fixture
def phones(live_server: Any) -> Iterator[Phones]:
    previous = live_server.ctx.notifier
    live_server.ctx.notifier = Phones()
    yield live_server.ctx.notifier
    live_server.ctx.notifier = previous


@pytest.fixture
def negative_reader(live_server: Any) -> Iterator[None]:
    """The live server's next readings: confident negatives (the vision has its own tests)."""
    vision = live_server.ctx.vision
    previous = vision.reader
    vision.reader = lambda _photo, _kit: fake_reading("negative")
    yield
    vision.reader = previous


def _code(live_server: Any) -> str:
    with live_server.ctx.database.session() as session:
        return unused_code(session)


def test_a_chinese_phone_gets_chinese_pages_and_the_switch_changes_language(
    new_page: Callable[..., Any],
    live_server: Any,
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
) -> None:
    code = _code(live_server)
    phone = new_page(**CHINESE)
    phone.goto(f"/u/{code}")
    assert phone.get_attribute("html", "lang") == "zh-CN"
    assert phone.inner_text("h1") == "开始您的检测"
    assert code in phone.inner_text("#start-code")
    page_checks(phone)
    assert axe_findings(phone) == []
    screenshot(phone, "patient-start-zh-360x780")
    phone.get_by_role("link", name="English").click()
    phone.wait_for_function("document.documentElement.lang === 'en'")
    assert phone.url.endswith(f"/u/{code}")  # the same page
    assert phone.inner_text("h1") == "Start your test"
    phone.reload()  # remembered (a cookie), though the browser still asks for Chinese
    assert phone.inner_text("h1") == "Start your test"
    phone.get_by_role("link", name="简体中文").click()
    phone.wait_for_function("document.documentElement.lang === 'zh-CN'")
    assert phone.inner_text("h1") == "开始您的检测"


def test_the_qr_link_keeps_the_code_times_are_local_and_e_mail_carries_the_result(
    new_page: Callable[..., Any],
    live_server: Any,
    phones: Phones,
    negative_reader: None,
    screenshot: Callable[[Any, str], Any],
    page_checks: Callable[[Any], None],
) -> None:
    ctx = live_server.ctx
    code = _code(live_server)
    phone = new_page(timezone_id=PHONE_ZONE, **CHINESE)
    phone.goto(f"/u/{code}")
    phone.get_by_role("link", name="注册并开始检测").click()
    phone.get_by_label("姓名（与身份证一致）").fill("周敏")
    phone.get_by_label("身份证号码").fill(make_test_id(61))
    phone.get_by_label("手机号码").fill("+86 139 5555 0061")
    phone.get_by_label("电子邮件", exact=True).check()  # told by e-mail, but no address yet
    phone.get_by_label("设置用户名").fill("zhou-min-61")
    phone.get_by_label("设置密码").fill("a long password")
    phone.get_by_role("button", name="注册", exact=True).click()
    # The mistake beside its field; what was typed kept, the password not; the code kept.
    error = phone.locator("#email-error")
    assert error.is_visible()
    assert error.inner_text() == "请核对电子邮件地址: 选择电子邮件通知时请填写电子邮件地址"
    assert phone.get_by_label("电子邮件地址").get_attribute("aria-describedby") == "email-error"
    assert phone.get_by_label("姓名（与身份证一致）").input_value() == "周敏"
    assert phone.get_by_label("电子邮件", exact=True).is_checked()
    assert phone.get_by_label("设置密码").input_value() == ""
    assert code in phone.inner_text("#register-code")
    page_checks(phone)
    assert axe_findings(phone) == []
    screenshot(phone, "patient-register-error-zh-360x780")
    phone.get_by_label("电子邮件地址").fill("zhou.min@example.org")
    phone.get_by_label("设置密码").fill("a long password")
    phone.get_by_role("button", name="注册", exact=True).click()
    phone.get_by_label("短信验证码").fill(phones.last_code())
    phone.get_by_role("button", name="确认").click()
    phone.wait_for_url("**/patient/scan?code=*")
    assert phone.get_by_label("编码（或印在其下方的短码）").input_value() == code
    phone.get_by_label("或选择您所在的区县").select_option(REGION_NORTH)
    phone.get_by_role("button", name="开始检测").click()
    phone.wait_for_url(re.compile(r"/patient/tests/[^/]+$"))
    test_id = decode(TEST, phone.url.rsplit("/", 1)[1])
    assert test_id is not None

    # Times in the phone's zone, written the Chinese way.
    with ctx.database.session() as session:
        test = session.get(SelfTest, test_id)
        assert test is not None
        claimed = test.claimed_at.replace(tzinfo=test.claimed_at.tzinfo or UTC)
    local = claimed.astimezone(ZoneInfo(PHONE_ZONE))
    started = phone.inner_text("main .muted")
    assert f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}" in started
    assert re.search(r"GMT-0[45]:00", started), started
    page_checks(phone)
    screenshot(phone, "patient-test-zh-360x780")

    # A clinician releases the result: the patient's message goes by e-mail, to that address.
    with ctx.database.session() as session:
        test = session.get(SelfTest, test_id)
        patient_user = user_named(session, "zhou-min-61")
        proposal = send_photo(session, ctx, patient_user, test, tiny_png())
        clinician = user_named(session, "clinician-north")
        decide(
            session,
            ctx,
            clinician,
            scope_for(session, ctx, clinician),
            proposal.id,
            ReviewIn(decision="confirm", read_time_ok=True),  # an early photo, on purpose
        )
        session.commit()
        patient = patient_by_user(session, patient_user.id)
        assert patient is not None
        told = session.scalars(
            select(OutboxDelivery).where(OutboxDelivery.aggregate_key == f"patient-{patient.id}")
        ).all()
        assert [d.channel for d in told] == ["email"]
        assert told[0].destination_enc is not None
        address = ctx.cipher.decrypt(told[0].destination_enc, DESTINATION_CONTEXT)
        assert address == "zhou.min@example.org"

    phone.reload()
    assert phone.inner_text("#state-title") == "结果已出"
    assert "阴性" in phone.inner_text("#result")
    assert "接下来" in phone.inner_text("#next")
    page_checks(phone)
    assert axe_findings(phone) == []
    screenshot(phone, "patient-result-zh-360x780")
    phone.goto("/patient")
    badge = phone.locator("#results .badge").first
    assert badge.inner_text() == "阴性"
    box = badge.bounding_box()
    assert box is not None
    assert box["height"] < 40  # a pill, not stretched to the row's height
    screenshot(phone, "patient-my-tests-zh-360x780")
