"""The page a patient's SMS or e-mail links to: the kit code and a second factor open the
released result, told in plain words. Anyone may reach it; the link, the code and the
birth date or ID digits together are what let them in."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from starlette.responses import Response

from api.deps import CtxDep, SessionDep
from api.notifications.service import ID_DIGITS
from api.reports import releases
from api.reports.schemas import LinkRefused
from review_ui.i18n import N_, _
from review_ui.patients import words
from review_ui.session import page_router
from review_ui.templating import render

router = page_router(tags=["pages"])

# Each refusal in words the person typing can act on; a wrong code and a wrong second
# factor read the same, so a guesser learns nothing of which one was right.
REFUSALS = {
    "unknown": N_("This link is not valid any more. Open the newest message we sent you."),
    "mismatch": N_("The code or the second answer is not right. Check both and try again."),
    "locked": N_("This link is locked after too many wrong tries. Call your health office."),
}
STATUS_CODES = {"unknown": 404, "mismatch": 403, "locked": 423}


@router.get("/r/{token}")
def result_link_page(request: Request, token: str) -> Response:
    return render(
        request, "patients/result_link.html", {"token": token, "error": None, "digits": ID_DIGITS}
    )


@router.post("/r/{token}")
def open_result(
    request: Request,
    session: SessionDep,
    ctx: CtxDep,
    token: str,
    kit_code: Annotated[str, Form(max_length=200)] = "",
    second_factor: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    opened = releases.open_link(session, ctx, token[:200], kit_code, second_factor)
    if isinstance(opened, LinkRefused):
        # Rendered, not raised: the wrong try is counted, and the request's session
        # commits only when the route returns.
        return render(
            request,
            "patients/result_link.html",
            {"token": token, "error": _(REFUSALS[opened.refusal]), "digits": ID_DIGITS},
            status_code=STATUS_CODES[opened.refusal],
        )
    return render(
        request,
        "patients/result_link.html",
        {
            "token": token,
            "result": opened,
            # The link carries no region: the country's advice (hotline, isolation).
            "meaning": words.linked_result(opened, words.RegionAdvice.of(ctx.regions, None)),
        },
    )
