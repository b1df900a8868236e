"""The professional's software and browser at the HTTP level: the contextual call (a form POST), the redirects,
and the Pro Santé Connect simulator's login form. It knows no Consumer page markup, so it works with any
Consumer whose login goes through Pro Santé Connect (RFC 6749 §4.1 redirects)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from lxml import html as lxml_html

from harness.capture import capturing_session

REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class Page:
    url: str
    status: int
    text: str
    response: Any

    @property
    def doc(self) -> Any:
        return lxml_html.fromstring(self.text or "<html/>")

    def rows(self, css_class: str) -> list[Any]:
        return self.doc.xpath(f"//tr[@class='{css_class}']")

    def row(self, css_class: str, attr: str, value: str) -> Any | None:
        found = [r for r in self.rows(css_class) if r.get(attr) == value]
        return found[0] if found else None


class Browser:
    """Sends the contextual call, logs in at PSC when sent there, follows redirects; keeps its cookies."""

    def __init__(self, contextual_call: str, base: str, psc_authorize: str, user: str,
                 actor: str = "harness:browser") -> None:
        self.contextual_call, self.base, self.psc_authorize, self.user = contextual_call, base, psc_authorize, user
        self.http = capturing_session(actor)
        self.auth_redirects: list[str] = []
        self.first_response: Any = None
        self.last: Page | None = None

    def call(self, form: dict[str, str]) -> Page:
        resp = self.http.post(self.contextual_call, data=form, allow_redirects=False, timeout=15)
        self.first_response = resp
        if resp.status_code not in REDIRECTS:
            self.last = Page(resp.url, resp.status_code, resp.text, resp)
            return self.last
        return self.follow(urljoin(resp.url, resp.headers["Location"]))

    def open(self, patient: Any, **optional: str) -> Page:
        """The contextual call for a fixture patient (``exams.contextual_form``)."""
        from testplans.consumer_drimbox.exams import contextual_form

        return self.call(contextual_form(patient, **optional))

    def follow(self, url: str, resp: Any = None) -> Page:
        for _ in range(12):
            if resp is None:
                resp = self.http.get(url, allow_redirects=False, timeout=15)
            if resp.status_code in REDIRECTS:
                url = urljoin(url, resp.headers["Location"])
                if url.startswith(self.psc_authorize):
                    self.auth_redirects.append(url)
                resp = None
                continue
            if url.startswith(self.psc_authorize) and resp.status_code == 200:
                resp = self.http.post(url, data={"user": self.user}, allow_redirects=False, timeout=15)
                continue
            self.last = Page(url, resp.status_code, resp.text, resp)
            return self.last
        raise AssertionError(f"too many redirects from {url}")

    def get(self, path: str) -> Page:
        return self.follow(urljoin(self.base + "/", path.lstrip("/")))

    def post(self, path: str, data: dict[str, str] | None = None) -> Page:
        url = urljoin(self.base + "/", path.lstrip("/"))
        resp = self.http.post(url, data=data or {}, allow_redirects=False, timeout=120)
        return self.follow(url, resp)
