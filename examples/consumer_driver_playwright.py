"""A Consumer DRIMbox driver in Playwright, written for the reference Consumer's pages: copy it and adapt it.

The consumer_drimbox plan observes the standard traffic of a Consumer at its own peers (the DMP, Pro Santé
Connect, the Source, the local PACS); the screen steps that cause that traffic, and what only a screen shows,
go through a driver (:mod:`harness.drivers`). This one drives the reference Consumer in a real, headless
Chromium with Playwright's sync API.

Using it
    ``pip install 'drimcheck[browser]'`` (Playwright) and a Chromium of the system
    (``apt-get install chromium``): the browser is never downloaded by Playwright. ``DRIMCHECK_CHROMIUM``
    names the Chromium binary when it is not ``/usr/bin/chromium`` or ``/usr/bin/chromium-browser``.
    Copy this file beside the SUT profile and name the class there, the path relative to the profile::

        driver: drivers/consumer_driver_playwright.py:PlaywrightReferenceDriver

    ``DRIMCHECK_SCREENSHOTS=folder`` saves a numbered screenshot of each screen the driver lands on.

HTTPS
    Chromium checks the Consumer's certificate as a professional's browser does. The CAs the harness trusts
    beyond the system's (the profile's ``tls.ca``, the campaign's test PKI: :attr:`DriverContext.cas`) are
    put in a throwaway NSS database that this Chromium alone reads (``certutil``, Debian's
    ``libnss3-tools``); no machine-wide store is touched. Certificate errors are ignored only when the
    profile says ``tls.verify: false``.

Adapting it to your Consumer
    - One class per screen (:class:`ExamListPage`, :class:`ExamPage`, :class:`ImportResultPage`,
      :class:`SettingsPage`, and the Pro Santé Connect login, :class:`PscLoginPage`) holds its locators once, in
      ``__init__`` (Playwright locators are lazy). Change the locators to your pages; the driver class and the
      plan need no change.
    - Prefer roles and accessible names (``get_by_role("table", name=...)``, ``get_by_label``), as a person
      finds things. Where a value has no visible text (a uniqueId, a Series Instance UID, a status code), read
      the attribute your page carries; the reference's are ``data-unique-id``, ``data-series-uid``,
      ``data-status``, ``data-trait``.
    - If your screen shows no uniqueId, find the exam's row by its accession number or description (the
      :class:`~harness.drivers.ExamRef` gives both); this driver already falls back to the accession.
    - Map your screen's words for a series' result to :data:`~harness.drivers.SERIES_STATUSES`
      (:attr:`ImportResultPage.ALIASES`); an unknown one is reported as ``error``.
    - Raise :class:`~harness.drivers.StepUnavailable` for a step your screens do not offer: the test is then
      not applicable with your reason (and a SHALL not passed), never a false pass. Playwright errors and
      timeouts are turned into it here, with the step named.
    - Set ``headless = False`` in a subclass to watch the campaign in a window.

The contextual call is a form POST from the professional's software: the driver shows such a form in the
browser (:class:`ContextualCallForm`) and submits it, logs in at Pro Santé Connect when the Consumer sends the
browser there, and ends on the patient's exam list. Playwright's sync API is bound to the thread that
started it: the plan calls every method from its main thread.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Playwright, Response, sync_playwright

from harness.drivers import SERIES_STATUSES, ConsumerDriver, DriverContext, ExamRef, StepUnavailable

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
STEP_TIMEOUT_MS = 30_000  # one page load or click
IMPORT_TIMEOUT_MS = 180_000  # an import retrieves every series (WADO-RS) and stores it (C-STORE) before answering


def chromium_executable() -> str | None:
    """The Chromium to launch: ``DRIMCHECK_CHROMIUM``, else the first of :data:`CHROMIUM_CANDIDATES` found."""
    named = os.environ.get("DRIMCHECK_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return next((c for c in CHROMIUM_CANDIDATES if Path(c).is_file()), None)


def browser_home(cas: tuple[str, ...]) -> tempfile.TemporaryDirectory[str]:
    """A HOME whose NSS database (``.pki/nssdb``, where Chromium on Linux reads locally added trust
    anchors) trusts ``cas`` for TLS servers: the campaign's CAs, for this browser only."""
    certutil = shutil.which("certutil")
    if certutil is None:
        raise RuntimeError("certutil is missing (apt-get install libnss3-tools): it gives Chromium the CA "
                           f"the Consumer's HTTPS certificate chains to ({', '.join(cas)})")
    home = tempfile.TemporaryDirectory(prefix="drimcheck-chromium-")
    nssdb = Path(home.name) / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    try:
        subprocess.run([certutil, "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True,
                       capture_output=True)
        for n, ca in enumerate(cas):
            # "C,,": a trusted CA for TLS servers, nothing else (no e-mail, no code signing)
            subprocess.run([certutil, "-A", "-d", f"sql:{nssdb}", "-n", f"drimcheck-ca-{n}", "-t", "C,,",
                            "-a", "-i", ca], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        home.cleanup()
        raise RuntimeError(f"certutil could not trust {exc.cmd[-1]}: {exc.stderr.decode(errors='replace')}") from exc
    return home


@contextmanager
def step(what: str) -> Iterator[None]:
    """Turn a Playwright error or timeout into :class:`StepUnavailable` naming the step."""
    try:
        yield
    except PlaywrightError as exc:
        raise StepUnavailable(f"{what}: {str(exc).strip().splitlines()[0]}") from exc


# ------------------------------------------------------------------ screens (page objects)
class ContextualCallForm:
    """The professional's software: a form holding the contextual call, posted to the Consumer."""

    def __init__(self, page: Page, action: str) -> None:
        self.page = page
        self.action = action
        self.send = page.get_by_role("button", name="Ouvrir dans la DRIMbox")

    def html(self, form: dict[str, Any]) -> str:
        """A list value is one field per item, in order (a repeated parameter: several ``Patient.name.given``)."""
        fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(item)}">'
                         for k, v in form.items() for item in (v if isinstance(v, list) else [v]))
        return ('<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Logiciel du professionnel'
                f'</title></head><body><form method="post" action="{html.escape(self.action)}" '
                f'accept-charset="UTF-8">{fields}<button type="submit">Ouvrir dans la DRIMbox</button></form>'
                '</body></html>')

    def submit(self, form: dict[str, Any]) -> Response | None:
        """Show the form, press its button; the response the browser landed on after the redirects."""
        self.page.set_content(self.html(form))
        with self.page.expect_navigation() as landed:
            self.send.click()
        return landed.value


class PscLoginPage:
    """The Pro Santé Connect simulator's login page: one button per professional, named with the RPPS."""

    def __init__(self, page: Page, authorize_url: str) -> None:
        self.page = page
        self.authorize_url = authorize_url

    def is_shown(self) -> bool:
        return self.page.url.startswith(self.authorize_url)

    def log_in(self, rpps: str) -> Response | None:
        """Choose the professional (the form posts ``user=<RPPS>``); the response the browser lands on."""
        button = self.page.get_by_role("button", name=re.compile(rf"\bRPPS {re.escape(rpps)}\b"))
        with self.page.expect_navigation() as landed:
            button.click()
        return landed.value


class ExamListPage:
    """``/exams/<ctx>``: the patient's INS traits and the table "Examens d'imagerie", one row per exam."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.traits = page.get_by_role("region", name="Patient").get_by_role("definition")
        self.table = page.get_by_role("table", name="Examens d'imagerie")
        self.exam_rows = self.table.locator("tr[data-unique-id]")

    def shown_traits(self) -> dict[str, str]:
        pairs = self.traits.evaluate_all("dds => dds.map(d => [d.dataset.trait || '', d.textContent.trim()])")
        return {trait: text for trait, text in pairs if trait}

    def rows(self) -> list[dict[str, str]]:
        return self.exam_rows.evaluate_all("""rows => rows.map(r => Object.assign(
            Object.fromEntries([...r.querySelectorAll('td[data-field]')]
                .map(td => [td.dataset.field, td.textContent.trim()])),
            {unique_id: r.dataset.uniqueId || ''}))""")

    def open(self, exam: ExamRef) -> Response | None:
        """Click "ouvrir" on the exam's row (found by uniqueId, else by accession number)."""
        row = self.table.locator(f'tr[data-unique-id="{exam.unique_id}"]')
        if exam.accession:
            row = row.or_(self.table.get_by_role("row").filter(has_text=exam.accession))
        row = row.first
        if row.count() == 0:
            raise StepUnavailable(f"{exam.for_a_person()} is not in the exam list")
        with self.page.expect_navigation() as landed:
            row.get_by_role("link", name="ouvrir").click()
        return landed.value


class ExamPage:
    """``/exams/<ctx>/<uid>``: the table "Séries", the Source's viewer links, the form "Import dans le PACS"."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.series_rows = page.get_by_role("table", name="Séries").locator("tr[data-series-uid]")
        self.viewer_links = page.get_by_role("link", name="visionneuse de la source")
        self.import_form = page.get_by_role("form", name="Import dans le PACS")
        self.local_patient_id = self.import_form.get_by_label("Identifiant patient local")
        self.local_issuer = self.import_form.get_by_label("Émetteur")
        self.import_button = self.import_form.get_by_role("button", name="Importer dans le PACS")

    def describe(self) -> dict[str, Any]:
        return {"series": self.series_rows.evaluate_all("rows => rows.map(r => r.dataset.seriesUid)"),
                "viewer_links": self.viewer_links.evaluate_all("links => links.map(a => a.getAttribute('href'))"),
                "can_import": self.import_button.count() > 0}

    def import_series(self, local_patient_id: str = "", local_issuer: str = "") -> Response | None:
        """Fill the local identity when given, press "Importer dans le PACS", wait for the result page."""
        if local_patient_id:
            self.local_patient_id.fill(local_patient_id)
        if local_issuer:
            self.local_issuer.fill(local_issuer)
        with self.page.expect_navigation(timeout=IMPORT_TIMEOUT_MS) as landed:
            self.import_button.click()
        return landed.value


class SettingsPage:
    """``/settings``: the form "Paramètres d'affichage", its box for the extended INS display, and the paragraph
    that says the setting in force (``data-state`` on / off)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.form = page.get_by_role("form", name="Paramètres d'affichage")
        self.extended_ins = self.form.get_by_role("checkbox")
        self.save = self.form.get_by_role("button", name="Enregistrer")
        self.state = page.locator("#extended-ins")

    def set_extended_ins(self, on: bool) -> str:
        """Tick or untick the box, save, and return the setting the page then says is in force."""
        self.extended_ins.set_checked(on)
        with self.page.expect_navigation():
            self.save.click()
        return self.state.get_attribute("data-state") or ""


class ImportResultPage:
    """``/exams/<ctx>/<uid>/import``: the table "Résultats de l'import", one row per series and its status."""

    ALIASES = {"complete": "imported"}  # the screen's word -> harness.drivers.SERIES_STATUSES

    def __init__(self, page: Page) -> None:
        self.results = page.get_by_role("table", name="Résultats de l'import").locator("tr[data-series-uid]")

    def statuses(self) -> dict[str, str]:
        shown = self.results.evaluate_all("rows => rows.map(r => [r.dataset.seriesUid, r.dataset.status || ''])")
        return {uid: self.status(word) for uid, word in shown}

    @classmethod
    def status(cls, word: str) -> str:
        word = cls.ALIASES.get(word, word)
        return word if word in SERIES_STATUSES else "error"


class XdmPages:
    """The XDM screens: the form "Export XDM" of the exam page (a download), the form "Import XDM" of the
    reference's ``<exam list>/xdm`` page and its result (``#xdm-result`` with ``data-status``; one ``tr.finding``
    per validator finding, ``data-rule``, ``data-severity``)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.export_button = page.get_by_role("form", name="Export XDM").get_by_role("button", name="Exporter (XDM)")
        self.import_form = page.get_by_role("form", name="Import XDM")
        self.package = self.import_form.get_by_label("Paquet XDM (ZIP)")
        self.local_patient_id = self.import_form.get_by_label("Identifiant patient local")
        self.local_issuer = self.import_form.get_by_label("Émetteur")
        self.import_button = self.import_form.get_by_role("button", name="Importer dans le PACS")
        self.result = page.locator("#xdm-result")
        self.errors = page.locator("tr.finding[data-severity='error']")

    def export(self) -> bytes:
        """Press "Exporter (XDM)": the ZIP downloaded, or the body of the page the Consumer answered instead."""
        downloads: list[Any] = []

        def keep(download: Any) -> None:
            downloads.append(download)

        self.page.on("download", keep)
        try:
            with self.page.expect_response(lambda r: r.url.split("?")[0].endswith("/export.zip"),
                                           timeout=IMPORT_TIMEOUT_MS) as answered:
                self.export_button.click()
            if "zip" not in (answered.value.headers.get("content-type") or ""):
                return answered.value.body()
            download = downloads[0] if downloads else self.page.wait_for_event("download")
            return Path(download.path()).read_bytes()
        finally:
            self.page.remove_listener("download", keep)

    def import_package(self, path: Path, local_patient_id: str = "", local_issuer: str = "") -> dict[str, Any]:
        self.package.set_input_files(str(path))
        if local_patient_id:
            self.local_patient_id.fill(local_patient_id)
        if local_issuer:
            self.local_issuer.fill(local_issuer)
        with self.page.expect_navigation(timeout=IMPORT_TIMEOUT_MS):
            self.import_button.click()
        if self.result.count() == 0:
            return {"status": "error", "message": self.page.title(), "errors": []}
        return {"status": self.result.get_attribute("data-status") or "", "message": self.result.inner_text(),
                "errors": self.errors.evaluate_all("rows => rows.map(r => r.dataset.rule)")}


# ------------------------------------------------------------------ the driver
class PlaywrightReferenceDriver(ConsumerDriver):
    """The reference Consumer's screens in a headless Chromium (Playwright sync API)."""

    answered_by = "the Playwright example driver (the reference Consumer's pages in headless Chromium)"
    headless = True

    def __init__(self, context: DriverContext) -> None:
        super().__init__(context)
        executable = chromium_executable()
        if executable is None:
            raise RuntimeError("no Chromium found: install one (apt-get install chromium) or set DRIMCHECK_CHROMIUM")
        self.home = browser_home(context.cas) if context.cas and context.verify else None
        env = dict(os.environ, HOME=self.home.name) if self.home else None
        self.playwright: Playwright | None = sync_playwright().start()
        try:
            self.browser = self.playwright.chromium.launch(executable_path=executable, headless=self.headless,
                                                           env=env)
            self.browser_context = self.browser.new_context(locale="fr-FR",
                                                            ignore_https_errors=not context.verify)
            self.browser_context.set_default_timeout(STEP_TIMEOUT_MS)
            self.page = self.browser_context.new_page()
        except BaseException:
            self.playwright.stop()
            if self.home:
                self.home.cleanup()
            raise
        shots = os.environ.get("DRIMCHECK_SCREENSHOTS")
        self.screenshots = Path(shots) if shots else None
        self.shot_count = 0
        self.list_url = ""  # the exam list opened last
        self.exam_uid = ""  # the exam whose page is open, "" when another page is

    # the steps
    def open_patient(self, form: dict[str, Any], *, until: Callable[[], bool] | None = None) -> None:
        """``until`` is not needed: each step waits for the page the Consumer answers with."""
        self.list_url = self.exam_uid = ""
        with step("send the contextual call"):
            landed = ContextualCallForm(self.page, self.context.contextual_call).submit(form)
        login = PscLoginPage(self.page, self.context.psc_authorize)
        if login.is_shown():
            with step(f"log in at Pro Santé Connect as RPPS {self.context.professional}"):
                landed = login.log_in(self.context.professional)
            if login.is_shown():
                raise StepUnavailable(f"Pro Santé Connect did not log in RPPS {self.context.professional}")
        status = landed.status if landed is not None else 0
        if status != 200:
            raise StepUnavailable(f"the contextual call ended on HTTP {status} at {self.page.url}")
        self.list_url = self.page.url
        self._evidence("exam-list")

    def open_exam(self, exam: ExamRef, *, until: Callable[[], bool] | None = None) -> None:
        with step(f"open {exam.for_a_person()}"):
            self._exam_list().open(exam)  # an error page is the Consumer's answer, not the driver's
        self.exam_uid = exam.unique_id
        self._evidence("exam")

    def import_exam(self, exam: ExamRef, *, local_patient_id: str = "", local_issuer: str = "",
                    until: Callable[[], bool] | None = None) -> dict[str, str]:
        if self.exam_uid != exam.unique_id:
            self.open_exam(exam)
        with step(f"import {exam.for_a_person()}"):
            page = ExamPage(self.page)
            if page.import_button.count() == 0:
                return {}  # the Consumer offers no import of this exam (its page says why): no series result
            page.import_series(local_patient_id, local_issuer)
            self.exam_uid = ""
            self._evidence("import")
            return ImportResultPage(self.page).statuses()

    def export_exam(self, exam: ExamRef, *, until: Callable[[], bool] | None = None) -> bytes:
        if self.exam_uid != exam.unique_id:
            self.open_exam(exam)
        with step(f"export {exam.for_a_person()} as XDM media"):
            return XdmPages(self.page).export()

    def import_package(self, path: Path, *, local_patient_id: str = "", local_issuer: str = "",
                       until: Callable[[], bool] | None = None) -> dict[str, Any]:
        """The reference's import page is ``<exam list>/xdm``."""
        self._exam_list()
        with step(f"import the XDM package {Path(path).name}"):
            self.page.goto(self.list_url.split("?", 1)[0].rstrip("/") + "/xdm")
            outcome = XdmPages(self.page).import_package(Path(path), local_patient_id, local_issuer)
        self.exam_uid = ""
        self._evidence("xdm-import")
        return outcome

    def set_extended_ins_display(self, on: bool) -> None:
        """The reference's ``/settings`` page (a Pro Santé Connect login first when the browser has none)."""
        self.list_url = self.exam_uid = ""
        with step("open the display settings"):
            self.page.goto(self.context.base.rstrip("/") + "/settings")
            login = PscLoginPage(self.page, self.context.psc_authorize)
            if login.is_shown():
                login.log_in(self.context.professional)
        with step(f"switch {'on' if on else 'off'} the extended INS display"):
            state = SettingsPage(self.page).set_extended_ins(on)
        self._evidence("settings")
        if state != ("on" if on else "off"):
            raise StepUnavailable(f"the settings page says {state or 'nothing'} after saving")

    # what the screens show
    def shown_patient(self) -> dict[str, str]:
        with step("read the INS traits"):
            return self._exam_list().shown_traits()

    def listed_exams(self) -> list[dict[str, str]]:
        with step("read the exam list"):
            return self._exam_list().rows()

    def shown_exam(self) -> dict[str, Any]:
        if not self.exam_uid:
            raise StepUnavailable("no exam page is open")
        with step("read the exam page"):
            return ExamPage(self.page).describe()

    def kpi_records(self) -> list[dict[str, Any]]:
        """``GET /kpi`` of the reference Consumer, opened in the browser (its cookies, its certificate checks)."""
        with step("read the ModelStat KPI records"):
            response = self.page.goto(self.context.base.rstrip("/") + "/kpi")
            self.exam_uid = ""  # the exam page, if one was open, is left
            if response is None or not response.ok:
                raise StepUnavailable(f"GET /kpi answered HTTP {response.status if response else 'nothing'}")
            return response.json()

    # beyond the interface
    def screenshot(self, path: str | Path) -> Path:
        """Save the page shown now as a full-page PNG at ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        """Close the browser and stop Playwright (once)."""
        if self.playwright is None:
            return
        try:
            self.browser.close()
        finally:
            self.playwright.stop()
            self.playwright = None
            if self.home:
                self.home.cleanup()

    def _exam_list(self) -> ExamListPage:
        """The exam list opened last, navigated back to when another page is shown."""
        if not self.list_url:
            raise StepUnavailable("no exam list is open")
        if self.page.url != self.list_url:
            self.page.goto(self.list_url)
            self.exam_uid = ""
        return ExamListPage(self.page)

    def _evidence(self, screen: str) -> None:
        if self.screenshots is not None:
            self.shot_count += 1
            self.screenshot(self.screenshots / f"{self.shot_count:03d}-{screen}.png")
