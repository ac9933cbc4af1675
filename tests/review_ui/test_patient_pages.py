"""The patient's phone pages without a browser: register, scan, photo, result."""

from __future__ import annotations

import re
from typing import Any

import pytest
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from review_ui_helpers import Phones, fake_reading, tiny_png, unused_code, user_named
from sqlalchemy.orm import Session

from api.identity import make_test_id
from api.public_ids import TEST, decode, encode
from api.selftests.tables import SelfTest
from api.unit_codes import new_codes
from review_ui.session import SESSION_COOKIE

NORTH = "DL-N-01-01"


@pytest.fixture
def pipeline_says(ctx: Any) -> dict[str, Any]:
    said: dict[str, Any] = {"result": "negative", "retake": None}

    def read(_photo: bytes, _kit: Any) -> Any:
        if said["retake"]:
            from pipeline.reading import QualityIssue, Reading

            return Reading.retake([QualityIssue("blur", said["retake"])], model="fake@1")
        return fake_reading(said["result"])

    ctx.vision.reader = read
    return said


def register(pages: Any, n: int = 901, **overrides: str) -> Any:
    pages.client.cookies.clear()
    pages.get("/patient/register")
    form = {
        "name": "Wu Lan",
        "national_id": make_test_id(n),
        "phone": "+86 139 1234 5678",
        "username": f"wu-lan-{n}",
        "password": "a long password",
    } | overrides
    return confirm(pages, pages.post("/patient/register", form))


def confirm(pages: Any, signed_up: Any) -> Any:
    """Send the code texted at sign-up, as the patient does; a refused form is returned."""
    if signed_up.status_code != 200:
        return signed_up
    assert "Code from the text message" in signed_up.text
    username = re.search(r'name="username"[^>]*value="([^"]*)"', signed_up.text, re.S)
    kit = re.search(r'name="code" value="([^"]*)"', signed_up.text)
    assert username is not None
    assert kit is not None
    sms_code = pages.client.app.state.ctx.notifier.last_code()
    form = {"username": username.group(1), "sms_code": sms_code, "code": kit.group(1)}
    if 'name="own_name" value="1"' in signed_up.text:
        form["own_name"] = "1"
    return pages.post("/patient/register/confirm", form)


@pytest.fixture(autouse=True)
def phones(ctx: Any) -> Phones:
    ctx.notifier = Phones()
    return ctx.notifier


def test_register_logs_the_patient_in_and_goes_to_the_scan(pages: Any) -> None:
    response = register(pages)
    assert response.status_code == 303
    assert response.headers["location"] == "/patient/scan"
    assert SESSION_COOKIE in response.headers["set-cookie"]
    page = pages.get("/patient/scan").text
    assert 'accept="image/*"' not in page  # the photo comes later
    assert 'id="code"' in page
    assert "Or choose your district" in page


def test_register_says_what_is_wrong_in_plain_words(pages: Any) -> None:
    bad_id = register(pages, national_id="110101199001010010")
    assert bad_id.status_code == 422
    assert "National ID number:" in bad_id.text
    assert 'value="Wu Lan"' in bad_id.text  # what was typed is kept
    short = register(pages, 902, password="short")
    assert short.status_code == 422
    assert "Password: use at least 8 characters" in short.text


def test_scan_a_typed_code_with_a_chosen_district(
    pages: Any, session: Session, pipeline_says: dict[str, Any]
) -> None:
    register(pages)
    code = unused_code(session)
    pages.get("/patient/scan")
    response = pages.post(
        "/patient/scan", {"code": code.lower().replace("-", " "), "region": NORTH}
    )
    assert response.status_code == 303
    test_id = decode(TEST, response.headers["location"].rsplit("/", 1)[1])
    test = session.get(SelfTest, test_id)
    assert test is not None
    assert test.region_code == NORTH
    page = pages.get(f"/patient/tests/{encode(TEST, test_id)}").text
    assert "How to do the test" in page
    assert "Have you added the sample?" in page  # the timer starts from the sample
    pages.post(f"/patient/tests/{encode(TEST, test_id)}/sample-applied", {"minutes_ago": "0"})
    page = pages.get(f"/patient/tests/{encode(TEST, test_id)}").text
    assert 'id="timer"' in page
    assert 'data-read-from="' in page
    assert 'capture="environment"' in page
    # The same code again is refused, in words.
    pages.get("/patient/scan")
    again = pages.post("/patient/scan", {"code": code, "region": NORTH})
    assert again.status_code == 409
    assert "already been used" in again.text


def test_scan_refuses_unknown_codes_and_a_missing_location(pages: Any, session: Session) -> None:
    register(pages)
    pages.get("/patient/scan")
    mistyped = pages.post("/patient/scan", {"code": "AAAA-BBBB-CCCC-DDDDD", "region": NORTH})
    assert "This code is not right" in mistyped.text
    assert 'value="AAAA-BBBB-CCCC-DDDDD"' in mistyped.text
    never_issued = new_codes(1)[0]
    unknown = pages.post("/patient/scan", {"code": never_issued, "region": NORTH})
    assert unknown.status_code == 404
    assert "We do not know this code" in unknown.text
    nowhere = pages.post("/patient/scan", {"code": unused_code(session)})
    assert nowhere.status_code == 422
    assert "Share your location, or choose where you are" in nowhere.text


def test_photo_then_clinician_check_then_result(
    pages: Any, session: Session, pipeline_says: dict[str, Any]
) -> None:
    register(pages)
    pages.get("/patient/scan")
    location = pages.post(
        "/patient/scan", {"code": unused_code(session), "latitude": "", "region": NORTH}
    ).headers["location"]
    pages.get(location)
    pipeline_says["retake"] = "The photo is blurred: hold the phone still."
    sent = pages.post(
        f"{location}/photo",
        {"upload_key": "key-00000001"},
        files={"photo": ("test.png", tiny_png(), "image/png")},
    )
    assert sent.status_code == 303
    page = pages.get(location).text
    assert "A new photo is needed" in page
    assert "The photo is blurred: hold the phone still." in page
    pipeline_says["retake"] = None
    pages.post(
        f"{location}/photo",
        {"upload_key": "key-00000002"},
        files={"photo": ("test.png", tiny_png(), "image/png")},
    )
    page = pages.get(location).text
    assert "A clinician is checking your result" in page
    assert 'hx-trigger="every 3s"' in page  # it polls until the result comes
    # A clinician confirms; the patient's page shows the result in plain words.
    test_id = decode(TEST, location.rsplit("/", 1)[1])
    from api.reviews.schemas import ReviewIn
    from api.reviews.service import decide
    from api.scope import scope_for
    from api.selftests.queries import latest_proposal

    clinician = user_named(session, "clinician-north")
    proposal = latest_proposal(session, test_id)
    assert proposal is not None
    decide(
        session,
        pages.client.app.state.ctx,
        clinician,
        scope_for(session, pages.client.app.state.ctx, clinician),
        proposal.id,
        # sent seconds after the scan, with no sample time: early, confirmed on purpose
        ReviewIn(decision="confirm", read_time_ok=True),
    )
    session.commit()
    fragment = pages.get(location, headers={"HX-Request": "true"}).text
    assert fragment.lstrip().startswith('<section id="state"')
    assert "Negative" in fragment
    assert "was not found" in fragment
    assert "hx-trigger" not in fragment  # polling stops
    assert re.search(r'badge--negative">Negative', pages.get("/patient").text)


def test_a_non_photo_is_refused_in_words(pages: Any, session: Session) -> None:
    register(pages)
    pages.get("/patient/scan")
    location = pages.post("/patient/scan", {"code": unused_code(session), "region": NORTH})
    url = location.headers["location"]
    pages.get(url)
    response = pages.post(f"{url}/photo", files={"photo": ("x.txt", b"hello", "text/plain")})
    assert response.status_code == 415
    assert "This file is not a photo we can read" in response.text


def test_patients_see_only_their_own_tests(pages: Any, session: Session) -> None:
    register(pages, 903)
    pages.get("/patient/scan")
    url = pages.post("/patient/scan", {"code": unused_code(session), "region": NORTH}).headers[
        "location"
    ]
    register(pages, 904)
    assert pages.get(url).status_code == 404  # another patient's test: as if absent


def test_the_patient_pages_are_for_patients(pages: Any) -> None:
    pages.log_in("clinician-north")
    for url in ("/patient", "/patient/scan", "/patient/tests/1"):
        assert pages.get(url, follow_redirects=False).status_code == 403


def test_the_qr_link_keeps_its_code_through_registration(pages: Any, session: Session) -> None:
    code = unused_code(session)
    pages.client.cookies.clear()
    start = pages.get(f"/u/{code}", follow_redirects=False)
    assert start.status_code == 200  # a start page, not a bare log-in
    assert f'href="/patient/register?code={code}"' in start.text
    assert "/login?next=/patient/scan%3Fcode%3D" in start.text
    form = pages.get(f"/patient/register?code={code}").text
    assert f'name="code" value="{code}"' in form
    registered = register(pages, n=913, code=code)
    assert registered.headers["location"] == f"/patient/scan?code={code}"
    scan = pages.get(registered.headers["location"]).text
    assert f'value="{code}"' in scan
    # Logged in, the link goes straight to the scan with the code.
    again = pages.get(f"/u/{code}", follow_redirects=False)
    assert again.headers["location"] == f"/patient/scan?code={code}"


def test_register_mistakes_sit_beside_their_fields(pages: Any, session: Session) -> None:
    code = unused_code(session)
    refused = register(pages, n=914, national_id="110101199001010010", code=code, username="x")
    assert refused.status_code == 422
    page = refused.text
    assert 'id="username-error"' in page  # too short: beside the user name
    assert 'aria-describedby="username-error"' in page
    assert f'name="code" value="{code}"' in page  # the kit's code is kept
    assert 'value="Wu Lan"' in page


def test_a_returning_patient_sees_a_started_test_with_the_code_and_id_number(
    pages: Any, session: Session
) -> None:
    location = _scanned(pages, session, 915)
    test = session.get(SelfTest, decode(TEST, location.rsplit("/", 1)[1]))
    assert test is not None
    from api.batches.tables import Unit

    unit = session.get(Unit, test.unit_id)
    assert unit is not None
    pages.client.cookies.clear()
    start = pages.get(f"/u/{unit.code}")
    assert "Registered already, or started this test?" in start.text
    wrong = pages.post("/patient/code-login", {"code": unit.code, "national_id": make_test_id(916)})
    assert wrong.status_code == 401
    assert 'id="national_id-error"' in wrong.text
    right = pages.post("/patient/code-login", {"code": unit.code, "national_id": make_test_id(915)})
    assert right.status_code == 303
    assert str(test.id) in pages.get("/patient").text


def test_a_scan_mistake_keeps_the_shared_location(pages: Any) -> None:
    register(pages, n=917)
    pages.get("/patient/scan")
    refused = pages.post("/patient/scan", {"code": "", "latitude": "39.91", "longitude": "116.40"})
    assert refused.status_code == 422
    assert 'name="latitude" id="latitude" value="39.91"' in refused.text
    assert "Location shared." in refused.text
    assert 'id="scan-error"' in refused.text  # beside the code field


def test_an_upload_without_the_csrf_token_is_refused(pages: Any, session: Session) -> None:
    register(pages)
    pages.get("/patient/scan")
    url = pages.post("/patient/scan", {"code": unused_code(session), "region": NORTH}).headers[
        "location"
    ]
    response = pages.client.post(
        f"{url}/photo", files={"photo": ("t.png", tiny_png(), "image/png")}, follow_redirects=False
    )
    assert response.status_code == 403


def _scanned(pages: Any, session: Session, n: int) -> str:
    register(pages, n=n)
    return str(
        pages.post("/patient/scan", {"code": unused_code(session), "region": NORTH}).headers[
            "location"
        ]
    )


def test_the_page_asks_for_the_sample_before_the_photo(
    pages: Any, session: Session, pipeline_says: dict[str, Any]
) -> None:
    location = _scanned(pages, session, 911)
    page = pages.get(location).text
    assert "Have you added the sample?" in page
    assert 'id="photo"' not in page  # the photo comes once the timer runs
    started = pages.post(f"{location}/sample-applied", {"minutes_ago": "6"})
    assert started.status_code == 303
    page = pages.get(location).text
    assert "Have you added the sample?" not in page
    assert 'id="timer"' in page
    assert "minutes after adding the sample" in page
    early = pages.post(
        f"{location}/photo",
        {"upload_key": "key-early-0001"},
        files={"photo": ("test.png", tiny_png(), "image/png")},
    )
    assert early.status_code == 409
    assert "Wait 9 more minutes, then take the photo." in early.text
    test = session.get(SelfTest, decode(TEST, location.rsplit("/", 1)[1]))
    assert test is not None
    session.refresh(test)
    assert test.status == "awaiting_photo"  # held: nothing was stored


def test_a_wrong_sample_time_is_said_in_words(pages: Any, session: Session) -> None:
    location = _scanned(pages, session, 912)
    typed = pages.post(f"{location}/sample-applied", {"minutes_ago": "soon"})
    assert typed.status_code == 422
    assert "Minutes ago: give the minutes as a number" in typed.text
    too_long = pages.post(f"{location}/sample-applied", {"minutes_ago": "600"})
    assert too_long.status_code == 422
    assert "from 0 to 60" in too_long.text
    assert "Have you added the sample?" in too_long.text  # still asked


def test_the_register_page_tells_no_one_who_is_registered(pages: Any, phones: Phones) -> None:
    register(pages, n=920)  # a registered patient: ID make_test_id(920), user wu-lan-920

    def sign_up(n: int, username: str, phone: str) -> str:
        pages.client.cookies.clear()
        pages.get("/patient/register")
        form = {
            "name": "Li Na",
            "national_id": make_test_id(n),
            "phone": phone,
            "username": username,
            "password": "a long password",
        }
        answer = pages.post("/patient/register", form)
        assert answer.status_code == 200
        assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
        # What differs by who typed it: the user name, and each visitor's CSRF token.
        return re.sub("[0-9a-f]{64}", "TOKEN", answer.text.replace(username, "USER"))

    registered_id = sign_up(920, "someone-else", "+86 139 0000 0001")
    taken_name = sign_up(921, "wu-lan-920", "+86 139 0000 0002")
    new = sign_up(922, "li-na-922", "+86 139 0000 0003")
    assert registered_id == taken_name == new
    told = [text for _address, text in phones.texts[-3:]]
    assert "Someone tried to register with your national ID number" in told[0]
    assert "user name you chose is taken" in told[1]
    assert "Your Vigil code is" in told[2]


def test_a_wrong_texted_code_opens_nothing(pages: Any) -> None:
    pages.client.cookies.clear()
    pages.get("/patient/register")
    form = {
        "name": "Li Na",
        "national_id": make_test_id(923),
        "phone": "+86 139 0000 0004",
        "username": "li-na-923",
        "password": "a long password",
    }
    assert pages.post("/patient/register", form).status_code == 200
    wrong = pages.post(
        "/patient/register/confirm", {"username": "li-na-923", "sms_code": "000000", "code": ""}
    )
    assert wrong.status_code == 422
    assert "wrong, expired or used up" in wrong.text.lower()
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")


def test_without_a_text_message_gateway_the_page_says_so(pages: Any, ctx: Any) -> None:
    ctx.notifier = None  # no OUTBOX_SMS_GATEWAY_URL here: no code can be sent
    refused = register(pages, n=924)
    assert refused.status_code == 503
    assert "text messages cannot be sent now" in refused.text.lower()
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")


def test_a_returning_patient_starts_a_new_kit_with_the_id_number_and_the_texted_code(
    pages: Any, session: Session, phones: Phones
) -> None:
    register(pages, n=931, phone="+86 139 0000 0931")
    pages.client.cookies.clear()
    code = unused_code(session)
    pages.get(f"/u/{code}")  # where the QR link leads: the form and its CSRF token
    texts_before = len(phones.texts)
    # Someone else's ID number, never registered: the same answer, and no text to anyone.
    stranger = pages.post("/patient/code-login", {"code": code, "national_id": make_test_id(932)})
    assert stranger.status_code == 401
    assert 'id="one_time_code"' in stranger.text
    assert len(phones.texts) == texts_before
    # The patient's own ID number: a code goes to their registered phone, not a log-in yet.
    asked = pages.post("/patient/code-login", {"code": code, "national_id": make_test_id(931)})
    assert asked.status_code == 401
    assert 'id="one_time_code"' in asked.text
    assert SESSION_COOKIE not in asked.headers.get("set-cookie", "")
    assert phones.texts[-1][0] == "+8613900000931"
    form = {"code": code, "national_id": make_test_id(931), "one_time_code": "000000"}
    assert pages.post("/patient/code-login", form).status_code == 401  # a wrong code
    form["one_time_code"] = phones.last_code()
    opened = pages.post("/patient/code-login", form)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/patient/scan?code={code}"
    assert f'value="{code}"' in pages.get(opened.headers["location"]).text


def test_an_e_mail_choice_without_an_address_is_refused_beside_the_field(
    pages: Any, session: Session
) -> None:
    code = unused_code(session)
    refused = register(pages, n=933, code=code, channel="email", email="")
    assert refused.status_code == 422
    page = refused.text
    assert 'id="email-error"' in page
    assert 'aria-describedby="email-error"' in page
    assert re.search(r'value="email" id="channel-email" checked', page)
    assert f'name="code" value="{code}"' in page
    assert 'value="Wu Lan"' in page
    assert "a long password" not in page  # a password is never sent back
    signed_up = register(pages, n=933, code=code, channel="email", email="wu.lan@example.org")
    assert signed_up.status_code == 303
    account = pages.get("/patient/account").text
    assert re.search(r'value="email" id="channel-email" checked', account)
    assert 'value="wu.lan@example.org"' in account


def test_the_account_page_changes_the_channel(pages: Any) -> None:
    register(pages, n=934)
    page = pages.get("/patient/account").text
    assert re.search(r'value="sms" id="channel-sms" checked', page)
    refused = pages.post("/patient/account", {"channel": "email", "email": "not-an-address"})
    assert refused.status_code == 422
    assert 'id="email-error"' in refused.text
    saved = pages.post("/patient/account", {"channel": "email", "email": "wu@example.org"})
    assert saved.status_code == 200
    assert 'id="account-saved"' in saved.text
    again = pages.get("/patient/account").text
    assert re.search(r'value="email" id="channel-email" checked', again)


def test_a_chinese_browser_gets_chinese_pages_and_the_switch_keeps_the_page(
    pages: Any, session: Session
) -> None:
    code = unused_code(session)
    chinese = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
    start = pages.get(f"/u/{code}", headers=chinese).text
    assert '<html lang="zh-CN">' in start
    assert "开始您的检测" in start
    assert "Start your test" not in start
    switch = re.search(r'href="(/language/en\?next=[^"]+)"', start)
    assert switch is not None
    back = pages.get(switch.group(1).replace("&amp;", "&"), headers=chinese, follow_redirects=False)
    assert back.status_code == 303
    assert back.headers["location"] == f"/u/{code}"
    assert "vigil_lang=en" in back.headers["set-cookie"]
    english = pages.get(back.headers["location"], headers=chinese).text
    assert '<html lang="en">' in english
    assert "Start your test" in english
    # A switch may only lead back to this site.
    away = pages.get(
        "/language/zh-CN?next=//evil.example/", headers=chinese, follow_redirects=False
    )
    assert away.headers["location"] == "/"


def test_every_patient_page_word_has_its_chinese() -> None:
    """Every message the patient pages and the layout mark, and every reason the pipeline
    gives for a new photo, has a Simplified Chinese translation in the catalogue (an
    untranslated one would show in English). Extracted as ``review_ui/locales/babel.cfg``
    says."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    from review_ui.i18n import LOCALES

    repo = LOCALES.parents[1]
    with (LOCALES / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "QualityIssue": (2,)}
    wanted = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            repo, method_map, options_map, keywords=keywords
        )
    }
    assert "Skip to main content" in wanted  # the layout
    assert any(m.startswith("The photo is blurred.") for m in wanted)  # the pipeline
    with (LOCALES / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as file:
        catalog = read_po(file)
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]
        for m in catalog
        if m.id and (m.string if isinstance(m.string, str) else all(m.string))
    }
    assert sorted(wanted - translated) == []


def test_a_self_test_needs_no_user_name_or_password(
    pages: Any, session: Session, phones: Phones
) -> None:
    code = unused_code(session)
    pages.client.cookies.clear()
    pages.get(f"/patient/register?code={code}")
    form = {
        "name": "Wu Lan",
        "national_id": make_test_id(941),
        "phone": "+86 139 1234 0941",
        "code": code,
    }
    signed_up = pages.post("/patient/register", form)
    assert signed_up.status_code == 200
    assert 'id="confirm-username"' not in signed_up.text  # nothing to remember or type
    opened = confirm(pages, signed_up)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/patient/scan?code={code}"
    # The patient comes back with the kit's code and their ID number.
    pages.post("/patient/scan", {"code": code, "region": NORTH})
    pages.client.cookies.clear()
    pages.get(f"/u/{code}")
    back = pages.post("/patient/code-login", {"code": code, "national_id": make_test_id(941)})
    assert back.status_code == 303
    assert back.headers["location"] == "/patient"
    assert code in pages.get("/patient/tests/" + _first_test(pages)).text


def _first_test(pages: Any) -> str:
    found = re.search(r'href="/patient/tests/([^"]+)"', pages.get("/patient").text)
    assert found is not None
    return found.group(1)


def test_a_chosen_user_name_needs_its_password(pages: Any) -> None:
    refused = register(pages, n=942, password="")
    assert refused.status_code == 422
    assert 'id="password-error"' in refused.text


def test_a_positive_result_gives_the_regions_advice_and_what_happens_next(
    pages: Any, session: Session, pipeline_says: dict[str, Any]
) -> None:
    from api.reviews.schemas import ReviewIn
    from api.reviews.service import decide
    from api.scope import scope_for
    from api.selftests.queries import latest_proposal

    location = _scanned(pages, session, 951)
    pages.get(location)
    pipeline_says["result"] = "positive"
    pages.post(
        f"{location}/photo",
        {"upload_key": "key-00000951"},
        files={"photo": ("test.png", tiny_png(), "image/png")},
    )
    waiting = pages.get(location).text
    assert "What happens next" in waiting
    assert "we tell you by text message" in waiting  # the channel the patient chose
    assert "12320" in waiting  # the demo region's hotline
    ctx = pages.client.app.state.ctx
    clinician = user_named(session, "clinician-north")
    proposal = latest_proposal(session, decode(TEST, location.rsplit("/", 1)[1]))
    assert proposal is not None
    decide(
        session,
        ctx,
        clinician,
        scope_for(session, ctx, clinician),
        proposal.id,
        ReviewIn(decision="confirm", read_time_ok=True),
    )
    session.commit()
    result = pages.get(location).text
    # The demo's national region sets the advice (api/regions/demo_regions.geojson).
    assert "Stay at home for 5 days and avoid contact with others." in result
    assert "Call the health hotline 12320." in result
    assert "sent to the health office of your area" in result
    chinese = pages.get(location, headers={"Accept-Language": "zh-CN"}).text
    assert "请居家 5 天，避免与他人接触。" in chinese
    assert "卫生健康热线 12320" in chinese


def test_a_mistyped_id_number_is_explained_in_chinese(pages: Any) -> None:
    pages.client.cookies.clear()
    chinese = {"Accept-Language": "zh-CN"}
    pages.get("/patient/register", headers=chinese)
    good = make_test_id(961)
    # Two digits of the sequence swapped: only the check digit can tell.
    swapped = good[:14] + good[15] + good[14] + good[16:]
    assert swapped != good
    form = {"name": "Wu Lan", "national_id": swapped, "phone": "+86 139 1234 0961"}
    refused = pages.post("/patient/register", form, headers=chinese)
    assert refused.status_code == 422
    error = re.search(r'<p class="field-error" id="national_id-error">([^<]*)</p>', refused.text)
    assert error is not None
    check = "请核对身份证号码（18 位，最后一位为数字或 X）"
    assert error.group(1) == f"{check}: 校验码不符：可能输错了一位数字，或两位数字颠倒了"
    assert f'value="{swapped}"' in refused.text  # kept, to correct
