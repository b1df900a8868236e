"""The driver of the reference Consumer's pages (``driver: reference``): page objects over HTTP.

Each screen's locators are held here once (STYLE §15); the plan's tests never hold a selector. Another
Consumer needs its own driver (``harness.drivers``), or ``driver: operator``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.drivers import ConsumerDriver, DriverContext, ExamRef, StepUnavailable
from harness.tls import session
from testplans.consumer_drimbox.browser import Browser, Page


class ExamListPage:
    """``/exams/<ctx>``: INS traits (``dl#ins-traits``) and one ``tr.exam`` row per exam."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def traits(self) -> dict[str, str]:
        items = self.page.doc.xpath("//dl[@id='ins-traits']/dd")
        return {dd.get("data-trait"): (dd.text or "").strip() for dd in items}

    def rows(self) -> list[dict[str, str]]:
        out = []
        for row in self.page.rows("exam"):
            cells = {td.get("data-field"): (td.text_content() or "").strip() for td in row.xpath("./td[@data-field]")}
            out.append({**cells, "unique_id": row.get("data-unique-id", "")})
        return out

    def exam_link(self, exam: ExamRef) -> str:
        row = self.page.row("exam", "data-unique-id", exam.unique_id)
        if row is None:
            raise StepUnavailable(f"{exam.for_a_person()} is not in the exam list")
        return row.xpath(".//a/@href")[0]


class ExamPage:
    """``/exams/<ctx>/<uid>``: one ``tr.series`` per series, ``a.viewer`` links, ``form#import``."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def describe(self) -> dict[str, Any]:
        doc = self.page.doc
        return {"series": [r.get("data-series-uid") for r in self.page.rows("series")],
                "viewer_links": list(doc.xpath("//a[@class='viewer']/@href")),
                "can_import": bool(doc.xpath("//form[@id='import']"))}


class ImportResultPage:
    """``/exams/<ctx>/<uid>/import``: one ``tr.series-result`` per series with its ``data-status``."""

    STATUSES = {"imported": "imported", "complete": "imported", "refused": "refused", "deleted": "deleted",
                "not-found": "not-found", "not-acceptable": "not-acceptable", "malformed": "malformed",
                "incomplete": "incomplete", "unauthorized": "unauthorized"}  # the reference's data-status -> ours

    def __init__(self, page: Page) -> None:
        self.page = page

    def statuses(self) -> dict[str, str]:
        return {r.get("data-series-uid"): self.STATUSES.get(r.get("data-status", ""), "error")
                for r in self.page.rows("series-result")}


class XdmResultPage:
    """``/exams/<ctx>/xdm`` after an upload: ``p#xdm-result`` (``data-status``), one ``tr.finding`` per finding
    (``data-rule``, ``data-severity``)."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def outcome(self) -> dict[str, Any]:
        doc = self.page.doc
        result = doc.xpath("//p[@id='xdm-result']")
        errors = [r.get("data-rule") for r in self.page.rows("finding") if r.get("data-severity") == "error"]
        if not result:
            return {"status": "error", "message": f"HTTP {self.page.status}", "errors": errors}
        return {"status": result[0].get("data-status", ""), "message": (result[0].text or "").strip(),
                "errors": errors}


class SettingsPage:
    """``/settings``: ``form#display-settings`` with the ``extended_ins`` box and the form's token,
    ``p#extended-ins`` saying the setting in force (``data-state`` on / off)."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def state(self) -> str:
        found = self.page.doc.xpath("//p[@id='extended-ins']/@data-state")
        return found[0] if found else ""

    def submission(self, on: bool) -> tuple[str, dict[str, str]]:
        """(action, fields) of the form with the box ticked or not."""
        forms = self.page.doc.xpath("//form[@id='display-settings']")
        if not forms:
            raise StepUnavailable(f"no display settings form at {self.page.url} (HTTP {self.page.status})")
        form = forms[0]
        fields = {i.get("name"): i.get("value", "") for i in form.xpath(".//input[@type='hidden']")}
        if on:
            fields["extended_ins"] = "on"
        return form.get("action") or "/settings", fields


class ReferenceDriver(ConsumerDriver):
    answered_by = "the reference driver (page objects of the reference Consumer)"

    def __init__(self, context: DriverContext) -> None:
        super().__init__(context)
        self.browser = Browser(context.contextual_call, context.base, context.psc_authorize, context.professional,
                               actor="harness:driver")
        self.exam_list: ExamListPage | None = None
        self.exam_page: ExamPage | None = None

    def open_patient(self, form: dict[str, Any], *, until: Callable[[], bool] | None = None) -> None:
        page = self.browser.call(form)
        self.exam_list = ExamListPage(page) if page.status == 200 else None
        if self.exam_list is None:
            raise StepUnavailable(f"the contextual call ended on HTTP {page.status} at {page.url}")

    def _list(self) -> ExamListPage:
        if self.exam_list is None:
            raise StepUnavailable("no exam list is open")
        return self.exam_list

    def open_exam(self, exam: ExamRef, *, until: Callable[[], bool] | None = None) -> None:
        # an error page is the Consumer's answer, not the driver's
        self.exam_page = ExamPage(self.browser.get(self._list().exam_link(exam)))

    def import_exam(self, exam: ExamRef, *, local_patient_id: str = "", local_issuer: str = "",
                    until: Callable[[], bool] | None = None) -> dict[str, str]:
        form = {k: v for k, v in (("local_patient_id", local_patient_id), ("local_issuer", local_issuer)) if v}
        page = self.browser.post(self._list().exam_link(exam) + "/import", form)
        return ImportResultPage(page).statuses()

    def shown_patient(self) -> dict[str, str]:
        return self._list().traits()

    def listed_exams(self) -> list[dict[str, str]]:
        return self._list().rows()

    def set_extended_ins_display(self, on: bool) -> None:
        action, fields = SettingsPage(self.browser.get("/settings")).submission(on)
        page = SettingsPage(self.browser.post(action, fields))
        wanted = "on" if on else "off"
        if page.state() != wanted:
            raise StepUnavailable(f"the settings page says {page.state() or 'nothing'} after asking {wanted} "
                                  f"(HTTP {page.page.status})")

    def shown_exam(self) -> dict[str, Any]:
        if self.exam_page is None:
            raise StepUnavailable("no exam page is open")
        return self.exam_page.describe()

    def kpi_records(self) -> list[dict[str, Any]]:
        return session().get(self.context.base.rstrip("/") + "/kpi", timeout=30).json()

    def export_exam(self, exam: ExamRef, *, until: Callable[[], bool] | None = None) -> bytes:
        return self.browser.post(self._list().exam_link(exam) + "/export.zip").response.content

    def import_package(self, path: Path, *, local_patient_id: str = "", local_issuer: str = "",
                       until: Callable[[], bool] | None = None) -> dict[str, Any]:
        url = self._list().page.url.split("?", 1)[0].rstrip("/") + "/xdm"
        form = {k: v for k, v in (("local_patient_id", local_patient_id), ("local_issuer", local_issuer)) if v}
        with open(path, "rb") as fh:
            resp = self.browser.http.post(url, data=form, files={"package": (Path(path).name, fh, "application/zip")},
                                          allow_redirects=False, timeout=300)
        return XdmResultPage(self.browser.follow(url, resp)).outcome()
