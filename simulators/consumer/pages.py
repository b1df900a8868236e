"""What the reference Consumer's pages share: rendering, the error page, the session rules of a contextual
call (PSC login first, IHE RAD TF-1 / ANS PoC), and the exam of a call with its manifest (ITI-43).

Used by the app's routes and by the blueprints (XDM export and import), so each page applies the same rules.
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, request

from simulators.consumer.history import HistoryError
from simulators.consumer.manifest import IdentityMismatch, ManifestError

COOKIE = "drimbox_sid"


def page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, content_type="text/html; charset=utf-8")


def error(title: str, message: str, status: int, **extra: Any) -> Response:
    return page("error.html", status, title=title, message=message, **extra)


def login_of(state: Any) -> Any:
    """The professional's session of this browser (the session cookie), None without one."""
    return state.sessions.get(request.cookies.get(COOKIE))


def context(state: Any, ctx: str) -> tuple[Any, Any, Response | None]:
    """(login, call, None), or an early answer: 404 for an unknown contextual call, 302 to PSC before login."""
    login = login_of(state)
    call = login.calls.get(ctx) if login else None
    if login is None or call is None:
        return None, None, error("Appel contextuel inconnu", "Relancez l'appel depuis votre logiciel", 404)
    if not login.logged_in:
        return login, call, redirect(state.psc.authorization_url(login, request.full_path.rstrip("?")), code=302)
    return login, call, None


def exam_of(state: Any, login: Any, ctx: str, uid: str) -> Any:
    """The exam ``uid`` of the call's history (queried once per call, ITI-18), None when it is not there."""
    history = login.results.get(ctx)
    if history is None:
        history = login.results[ctx] = state.history(login, login.calls[ctx])
    return next((e for e in history.exams if e.unique_id == uid), None)


def exam_manifest(state: Any, ctx: str, uid: str) -> tuple[Any, Any, Any, Any, Response | None]:
    """(login, call, exam, manifest, None), or an error page as the last item."""
    login, call, early = context(state, ctx)
    if early is not None:
        return login, call, None, None, early
    try:
        found = exam_of(state, login, ctx, uid)
        if found is None:
            return login, call, None, None, error("Examen inconnu", uid, 404, call=call)
        manifest = state.manifest(login, call, found)
    except IdentityMismatch as exc:
        return login, call, None, None, error("Identité du patient incohérente", str(exc), 409, call=call)
    except (HistoryError, ManifestError) as exc:
        return login, call, None, None, error("Manifeste indisponible", str(exc), 502, call=call)
    return login, call, found, manifest, None
