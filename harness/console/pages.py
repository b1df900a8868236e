"""The console's pages: login, systems under test, campaigns (live progress over Server-Sent Events), the
evidence browser, sign-off, validators, API tokens and accounts. Server-rendered (Jinja2), a little vanilla
JavaScript in ``static/console.js``; every form carries the session's CSRF token (:mod:`security`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)

from harness.console import evidence as ev
from harness.console import operator as op
from harness.console.jobs import campaign_dir
from harness.console.security import (
    ROLE_RIGHTS,
    SAFE_METHODS,
    check_csrf,
    check_login,
    hash_password,
    login_required,
    may_see,
    new_token,
    sees_everything,
    session_user,
    start_session,
)
from harness.console.service import (
    ACTOR_ALIASES,
    RequestError,
    campaign_request,
    check_profile_text,
    plan_names,
    reachability,
    save_profile,
    sut_label,
    template,
    validate_blobs,
)
from harness.console.storage import ROLES, TERMINAL
from harness.operator import AnswerRefused

pages = Blueprint("pages", __name__)
SSE_POLL = 0.5
SSE_HEARTBEAT = 15.0
SSE_MAX_SECONDS = 3600.0


def _console() -> Any:
    return current_app.extensions["console"]


@pages.before_request
def _csrf() -> Any:
    """A state-changing page request without a session goes to the login page; with one (the login form's
    anonymous session included) it carries the session's CSRF token."""
    if request.method not in SAFE_METHODS and request.endpoint != "pages.login" and session.get("uid") is None:
        return redirect(url_for("pages.login"))
    check_csrf()
    return None


# -- login ---------------------------------------------------------------------------------------
@pages.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = request.args.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("pages.home")  # never a redirect off the console
    if request.method == "POST":
        user = check_login(_console().store, request.form.get("name", ""), request.form.get("password", ""))
        if user is None:
            time.sleep(0.2)
            flash("unknown name or wrong password", "error")
            return render_template("login.html", next=target), 401
        start_session(user)
        return redirect(target)
    if session_user() is not None:
        return redirect(target)
    return render_template("login.html", next=target)


@pages.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("pages.login"))


@pages.get("/")
@login_required()
def home() -> Any:
    campaigns = _visible(_console().store.list_campaigns(limit=10))
    return render_template("home.html", campaigns=campaigns, label=_label)


def _visible(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if may_see(g.user, r["created_by"])]


def _label(campaign: dict[str, Any]) -> str:
    return sut_label(_console().store, campaign)


# -- systems under test --------------------------------------------------------------------------
@pages.get("/profiles")
@login_required()
def profiles() -> Any:
    return render_template("profiles.html", profiles=_visible(_console().store.list_profiles()),
                           actors=list(ACTOR_ALIASES))


def _own_profile(profile_id: int) -> dict[str, Any]:
    profile = _console().store.profile(profile_id)
    if profile is None or not may_see(g.user, profile["created_by"]):
        abort(404)
    return profile


@pages.route("/profiles/new", methods=["GET", "POST"])
@login_required()
def profile_new() -> Any:
    if request.method == "GET":
        actor = request.args.get("actor", "source")
        try:
            text = template(actor)
        except RequestError as exc:
            abort(400, description=str(exc))
        return render_template("profile_edit.html", profile=None, text=text, check=None, versions=[])
    return _save(None)


@pages.route("/profiles/<int:profile_id>", methods=["GET", "POST"])
@login_required()
def profile_edit(profile_id: int) -> Any:
    profile = _own_profile(profile_id)
    if request.method == "POST":
        return _save(profile)
    text = _console().store.version(profile_id, profile["current_version"])["yaml"]
    return render_template("profile_edit.html", profile=profile, text=text,
                           check=check_profile_text(text, _console().data),
                           versions=_console().store.versions(profile_id))


def _save(profile: dict[str, Any] | None) -> Any:
    text = request.form.get("yaml", "")
    try:
        pid, version, _check = save_profile(_console().store, _console().data, g.user, text,
                                            profile["id"] if profile else None)
    except RequestError:
        check = check_profile_text(text, _console().data)
        versions = _console().store.versions(profile["id"]) if profile else []
        return render_template("profile_edit.html", profile=profile, text=text, check=check, versions=versions), 422
    flash(f"saved as version {version}", "ok")
    return redirect(url_for("pages.profile_edit", profile_id=pid))


@pages.get("/profiles/<int:profile_id>/versions/<int:version>")
@login_required()
def profile_version(profile_id: int, version: int) -> Any:
    profile = _own_profile(profile_id)
    row = _console().store.version(profile_id, version)
    if row is None:
        abort(404)
    return render_template("profile_version.html", profile=profile, row=row)


@pages.post("/profiles/reachability")
@login_required()
def profile_reachability() -> Any:
    """The "test reachability" button: each endpoint of the text in the form, tried as ``profile check`` does."""
    return jsonify(reachability(request.form.get("yaml", ""), _console().data))


# -- campaigns -----------------------------------------------------------------------------------
@pages.get("/campaigns")
@login_required()
def campaigns() -> Any:
    return render_template("campaigns.html", campaigns=_visible(_console().store.list_campaigns()), label=_label)


@pages.route("/campaigns/new", methods=["GET", "POST"])
@login_required()
def campaign_new() -> Any:
    store = _console().store
    profiles = _visible(store.list_profiles())
    form: dict[str, Any] = {"sut": request.args.get("sut", "reference:content"), "plans": [], "only": "",
                            "profile_id": request.args.get("profile_id", "")}
    if request.method == "POST":
        form = {"sut": request.form.get("sut", ""), "plans": request.form.getlist("plan"),
                "only": request.form.get("only", ""), "profile_id": request.form.get("profile_id", "")}
        try:
            profile_id = int(form["profile_id"]) if form["profile_id"] else None
            cid = campaign_request(store, _console().data, g.user, sut=form["sut"], profile_id=profile_id,
                                   plans=form["plans"], only=form["only"].replace(",", " ").split())
        except (RequestError, ValueError) as exc:
            problems = getattr(exc, "problems", [str(exc)])
            return render_template("campaign_new.html", profiles=profiles, plans=plan_names(), form=form,
                                   problems=problems), 422
        return redirect(url_for("pages.campaign", campaign_id=cid))
    return render_template("campaign_new.html", profiles=profiles, plans=plan_names(), form=form, problems=[])


def _own_campaign(campaign_id: int) -> dict[str, Any]:
    campaign = _console().store.campaign(campaign_id)
    if campaign is None or not may_see(g.user, campaign["created_by"]):
        abort(404)
    return campaign


def _out(campaign_id: int) -> Path:
    return campaign_dir(_console().data, campaign_id) / "out"


@pages.get("/campaigns/<int:campaign_id>")
@login_required()
def campaign(campaign_id: int) -> Any:
    c = _own_campaign(campaign_id)
    store = _console().store
    results = ev.load_results(_out(campaign_id)) if c["state"] == "finished" else None
    progress = [e["data"] for e in store.events_after(campaign_id, 0, ("progress",)) if "outcome" in e["data"]]
    return render_template("campaign.html", c=c, label=_label(c), results=results, progress=progress,
                           so_far=_so_far(progress), signoffs=store.signoffs(campaign_id), terminal=TERMINAL,
                           may_sign=g.user["role"] in ("assessor", "admin"),
                           op=op.view(_console().data, campaign_id, _out(campaign_id)))


def _so_far(progress: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each requirement with the outcomes of its tests so far: failed as soon as one test failed."""
    seen: dict[str, set[str]] = {}
    for item in progress:
        for rid in item["requirements"]:
            seen.setdefault(rid, set()).add(item["outcome"])
    order = ("failed", "error", "inconclusive", "skipped", "not_applicable", "passed")
    return [(rid, next((o for o in order if o in outs), "passed")) for rid, outs in seen.items()]


@pages.get("/campaigns/<int:campaign_id>/events")
@login_required()
def campaign_events(campaign_id: int) -> Any:
    """Server-Sent Events (HTML Living Standard §9.2): ``progress`` per finished test, ``state`` on each change,
    ``operator`` when the operator's pending prompt changes and ``traffic`` as its step's exchanges are captured;
    the stream ends after the campaign's terminal state. ``Last-Event-ID`` resumes after a reconnection."""
    _own_campaign(campaign_id)
    store = _console().store
    try:
        after = int(request.headers.get("Last-Event-ID") or request.args.get("after") or 0)
    except ValueError:
        after = 0

    watch = op.Watch(_console().data, campaign_id, _out(campaign_id))

    def stream() -> Any:
        last, started, beat = after, time.monotonic(), time.monotonic()
        yield "retry: 2000\n\n"
        while time.monotonic() - started < SSE_MAX_SECONDS:
            for event in store.events_after(campaign_id, last):
                last = event["id"]
                yield f"id: {last}\nevent: {event['kind']}\ndata: {json.dumps(event['data'])}\n\n"
            for kind, data in watch.poll():  # the operator's prompt and its traffic: state, not history (no id)
                yield f"event: {kind}\ndata: {json.dumps(data)}\n\n"
            current = store.campaign(campaign_id)
            if current is None or current["state"] in TERMINAL:
                yield f"event: end\ndata: {json.dumps({'state': current and current['state']})}\n\n"
                return
            if time.monotonic() - beat > SSE_HEARTBEAT:
                beat = time.monotonic()
                yield ": keep-alive\n\n"
            time.sleep(SSE_POLL)

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@pages.get("/campaigns/<int:campaign_id>/operator")
@login_required()
def campaign_operator(campaign_id: int) -> Any:
    """The operator's part of the campaign page alone: the page's script fetches it when the prompt changes."""
    c = _own_campaign(campaign_id)
    return render_template("_operator.html", c=c, terminal=TERMINAL,
                           op=op.view(_console().data, campaign_id, _out(campaign_id)))


@pages.post("/campaigns/<int:campaign_id>/operator/<int:prompt_id>")
@login_required()
def campaign_operator_answer(campaign_id: int, prompt_id: int) -> Any:
    """The person's answer to a prompt: done, a problem with their text, or a question's values (form fields
    ``value.NAME``). The vendor who owns the campaign or an assessor answers (whoever sees it); the channel
    refuses a malformed answer, one for a prompt already over, and one after the step's timeout."""
    c = _own_campaign(campaign_id)
    target = url_for("pages.campaign", campaign_id=campaign_id) + "#operator"
    sent = {"action": request.form.get("action", ""), "text": request.form.get("text", ""),
            "values": {k[6:]: v for k, v in request.form.items() if k.startswith("value.")}}
    try:
        if c["state"] != "running":
            raise AnswerRefused(f"the campaign is {c['state']}: it waits for no answer")
        answer = op.channel_of(_console().data, campaign_id).answer(prompt_id, sent, g.user["name"])
    except AnswerRefused as exc:
        flash(f"answer refused: {str(exc)[:600]}", "error")  # a flash lives in the session cookie (4 KB)
        return redirect(target, code=303)
    said = answer.describe()
    flash(f"answer taken ({said[:200]}{'…' if len(said) > 200 else ''}): the plan goes on", "ok")
    return redirect(target, code=303)


@pages.post("/campaigns/<int:campaign_id>/cancel")
@login_required()
def campaign_cancel(campaign_id: int) -> Any:
    c = _own_campaign(campaign_id)
    if _console().worker.cancel(campaign_id):
        flash("cancel asked: the campaign stops, its outcomes so far stay as partial", "ok")
    else:
        flash(f"the campaign has already ended ({c['state']})", "error")
    return redirect(url_for("pages.campaign", campaign_id=campaign_id))


@pages.post("/campaigns/<int:campaign_id>/rerun")
@login_required()
def campaign_rerun(campaign_id: int) -> Any:
    """The same SUT (its profile's current version) and plans, whole or narrowed to ``only``."""
    c = _own_campaign(campaign_id)
    only = request.form.get("only", "").replace(",", " ").split()
    try:
        cid = campaign_request(_console().store, _console().data, g.user, sut=c["sut"], profile_id=c["profile_id"],
                               plans=c["plans"], only=only, rerun_of=campaign_id)
    except RequestError as exc:
        flash("rerun refused: " + "; ".join(exc.problems), "error")
        return redirect(url_for("pages.campaign", campaign_id=campaign_id))
    return redirect(url_for("pages.campaign", campaign_id=cid))


@pages.post("/campaigns/<int:campaign_id>/signoff")
@login_required(role="assessor")
def campaign_signoff(campaign_id: int) -> Any:
    c = _own_campaign(campaign_id)
    comment = request.form.get("comment", "").strip()
    if c["state"] != "finished":
        abort(409, description=f"only a finished campaign is signed off; this one is {c['state']}")
    if not comment or len(comment) > 4000:
        flash("a sign-off carries a comment (up to 4000 characters)", "error")
        return redirect(url_for("pages.campaign", campaign_id=campaign_id))
    _console().store.add_signoff(campaign_id, g.user["id"], comment)
    flash("marked reviewed", "ok")
    return redirect(url_for("pages.campaign", campaign_id=campaign_id))


REPORT_FILES = {"report.html": "text/html", "results.json": "application/json", "junit.xml": "application/xml",
                "coverage.csv": "text/csv", "evidence.zip": "application/zip"}


@pages.get("/campaigns/<int:campaign_id>/files/<name>")
@login_required()
def campaign_file(campaign_id: int, name: str) -> Any:
    """The campaign's own files; report.html is served as written, sandboxed (its script runs, without the
    console's origin or cookies)."""
    _own_campaign(campaign_id)
    if name not in REPORT_FILES:
        abort(404)
    path = _out(campaign_id) / name
    if not path.is_file():
        abort(404, description=f"no {name}: the campaign did not finish")
    response = send_file(path, mimetype=REPORT_FILES[name], as_attachment=name == "evidence.zip",
                         download_name=f"campaign-{campaign_id}-{name}")
    if name == "report.html":
        response.headers["Content-Security-Policy"] = "sandbox allow-scripts allow-popups; frame-ancestors 'self'"
    return response


@pages.get("/campaigns/<int:campaign_id>/requirements/<rid>")
@login_required()
def campaign_requirement(campaign_id: int, rid: str) -> Any:
    c = _own_campaign(campaign_id)
    results = ev.load_results(_out(campaign_id)) or {}
    req = next((r for r in results.get("requirements", []) if r["id"] == rid), None)
    if req is None:
        abort(404, description=f"no requirement {rid} in this campaign's results")
    tests = [t for t in results.get("tests", []) if rid in t.get("requirements", [])]
    rows = [r for r in ev.listing(_out(campaign_id), results) if rid in r["requirements"]]
    return render_template("requirement.html", c=c, req=req, tests=tests, exchanges=rows)


@pages.get("/campaigns/<int:campaign_id>/evidence")
@login_required()
def campaign_evidence(campaign_id: int) -> Any:
    c = _own_campaign(campaign_id)
    out = _out(campaign_id)
    results = ev.load_results(out)
    query = request.args.get("q", "").strip()
    rows = ev.search(out, results, query) if query else ev.listing(out, results)
    return render_template("evidence.html", c=c, rows=rows, query=query)


@pages.get("/campaigns/<int:campaign_id>/exchanges/<exchange_id>")
@login_required()
def campaign_exchange(campaign_id: int, exchange_id: str) -> Any:
    c = _own_campaign(campaign_id)
    out = _out(campaign_id)
    ex = ev.find_exchange(out, exchange_id)
    if ex is None:
        abort(404)
    results = ev.load_results(out)
    row = next((r for r in ev.listing(out, results) if r["id"] == exchange_id), {})
    protocol = ex.get("protocol", "")
    sides = {s: ev.decode_side(ex[s], out / "evidence", protocol) for s in ("request", "response")}
    return render_template("exchange.html", c=c, ex=ex, row=row, sides=sides)


@pages.get("/search")
@login_required()
def search() -> Any:
    """A patient id, a UID or a requirement id across the campaigns this user sees (newest first, at most 50)."""
    query = request.args.get("q", "").strip()
    hits = []
    if query:
        for c in _visible(_console().store.list_campaigns(limit=50)):
            out = _out(c["id"])
            for row in ev.search(out, ev.load_results(out), query):
                hits.append((c, row))
    return render_template("search.html", query=query, hits=hits[:500])


# -- validators ----------------------------------------------------------------------------------
@pages.route("/validate", methods=["GET", "POST"])
@login_required()
def validate() -> Any:
    reports, problems = None, []
    if request.method == "POST":
        blobs = [(f.filename or "upload", f.read()) for f in request.files.getlist("file") if f.filename]
        try:
            reports = validate_blobs(blobs, profile=request.form.get("profile", "dmp"),
                                     together=request.form.get("together") == "on")
        except RequestError as exc:
            problems = exc.problems
    return render_template("validate.html", reports=reports, problems=problems), 422 if problems else 200


# -- API tokens and accounts ---------------------------------------------------------------------
@pages.route("/tokens", methods=["GET", "POST"])
@login_required()
def tokens() -> Any:
    store = _console().store
    shown = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()[:128] or "token"
        shown, digest, prefix = new_token()
        store.add_token(g.user["id"], name, digest, prefix)
    return render_template("tokens.html", tokens=store.tokens_of(g.user["id"]), shown=shown)


@pages.post("/tokens/<int:token_id>/revoke")
@login_required()
def token_revoke(token_id: int) -> Any:
    if not _console().store.revoke_token(g.user["id"], token_id):
        abort(404)
    flash("token revoked", "ok")
    return redirect(url_for("pages.tokens"))


@pages.route("/users", methods=["GET", "POST"])
@login_required(role="admin")
def users() -> Any:
    store = _console().store
    if request.method == "POST":
        try:
            store.add_user(request.form.get("name", "").strip(), hash_password(request.form.get("password", "")),
                           request.form.get("role", ""))
            flash("account created", "ok")
        except ValueError as exc:
            flash(str(exc), "error")
        return redirect(url_for("pages.users"))
    return render_template("users.html", users=store.list_users(), roles=ROLES, rights=ROLE_RIGHTS)


def everything_visible() -> bool:
    return sees_everything(g.user)
