"""Write a campaign's outputs from results.json and the evidence folder.

``report.html`` (self-contained), ``junit.xml``, ``coverage.csv``, ``results.json`` (validated
against its schema before it is written) and ``evidence.zip`` whose ``MANIFEST.sha256`` lists
every other file of the campaign, so the agency can check that nothing was altered, with
``MANIFEST.sha256.p7s``: a CMS detached signature over the manifest (RFC 5652, see reports.signing).

The signing key is the first SUT profile's ``credentials.evidence_key``/``evidence_cert``, else the
"evidence" certificate of the default test PKI (harness.pki). When neither can sign, the bundle is
written unsigned and report.html and results.json (``evidence.problem``) say why: reports are never
lost to a signing problem.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import jinja2

from reports.performance import section as performance_section
from reports.render import render_body
from reports.results import load_exchanges, validate_results
from reports.signing import MANIFEST_NAME, SIGNATURE_NAME, EvidenceKey, SigningError, sign_manifest

TEMPLATES = Path(__file__).resolve().parent / "templates"
OUTPUT_FILES = ("report.html", "junit.xml", "results.json", "coverage.csv", "evidence.zip")


def write_reports(results: dict[str, Any], out: Path, evidence: Path | None = None,
                  key: EvidenceKey | None = None) -> Path:
    """Write every report into ``out``; returns the path of report.html.

    ``key`` signs evidence.zip; by default the one :func:`evidence_key` finds for the campaign.
    ``results`` gains ``evidence`` (who signs, or why nothing does) in what is written.
    """
    problem = ""
    if key is None:
        key, problem = evidence_key(results)
    results = {**results, "evidence": evidence_record(key, problem)}
    out.mkdir(parents=True, exist_ok=True)
    evidence = evidence or out / "evidence"
    if evidence.resolve() != (out / "evidence").resolve() and evidence.is_dir():
        shutil.copytree(evidence, out / "evidence", dirs_exist_ok=True)
        evidence = out / "evidence"
    validate_results(results)
    _atomic_write(out / "results.json", json.dumps(results, indent=1, ensure_ascii=False).encode("utf-8"))
    _atomic_write(out / "junit.xml", junit_xml(results).encode("utf-8"))
    _atomic_write(out / "coverage.csv", coverage_csv(results).encode("utf-8"))
    _atomic_write(out / "report.html", html_report(results, evidence).encode("utf-8"))
    write_bundle(out, key)
    return out / "report.html"


def evidence_key(results: dict[str, Any]) -> tuple[EvidenceKey | None, str]:
    """The key that signs the campaign's evidence, or None and why none can.

    The first SUT profile (still readable at its recorded path) that sets ``credentials.evidence_key``
    and ``evidence_cert``; else the "evidence" certificate of the default test PKI.
    """
    try:
        for sut in results["campaign"].get("suts", []):
            credentials = _profile_credentials(sut)
            if credentials.get("evidence_key") and credentials.get("evidence_cert"):
                return EvidenceKey.read(Path(credentials["evidence_key"]), Path(credentials["evidence_cert"]),
                                        f"profile {sut['source']} (credentials.evidence_key)"), ""
        return _default_pki_key(), ""
    except SigningError as exc:
        return None, str(exc)


def _profile_credentials(sut: dict[str, Any]) -> dict[str, Any]:
    """The credentials of a SUT's profile file, paths absolute; {} for a reference or a profile gone since."""
    from harness.sut import ProfileError, profile_from_data, read_profile_file

    source = sut.get("source") or ""
    if sut.get("reference") or not source or not Path(source).is_file():
        return {}
    try:
        path, data = read_profile_file(source)
    except ProfileError as exc:
        raise SigningError(f"cannot read its evidence credentials: {exc}") from None
    return profile_from_data(data, path)[0].credentials


def _default_pki_key() -> EvidenceKey:
    """The "evidence" certificate (CN=DRIMcheck evidence) of the default test PKI, made on first use."""
    try:
        from harness import pki
    except ImportError:
        raise SigningError("no evidence key: no profile sets credentials.evidence_key and the test PKI "
                           "(harness.pki) is not installed") from None
    folder = pki.default_folder()
    try:
        network = pki.network_pki(folder)
    except (OSError, ValueError) as exc:
        raise SigningError(f"the default test PKI in {folder} cannot be made or read: {exc}") from None
    return EvidenceKey.read(network.key_path("evidence"), network.cert_path("evidence"),
                            f"default test PKI {folder}")


def evidence_record(key: EvidenceKey | None, problem: str = "") -> dict[str, Any]:
    """results.json ``evidence``: who signs evidence.zip (``signer``, ``issuer``, ``key_source``) or why not."""
    if key is None:
        return {"signed": False, "problem": problem or "no evidence key given"}
    return {"signed": True, "signature": SIGNATURE_NAME, "format": "CMS detached, SHA-256 (RFC 5652)",
            "signer": key.subject, "issuer": key.issuer, "key_source": key.source}


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _body_bytes(body: dict[str, Any], evidence: Path) -> bytes:
    if "text" in body:
        return body["text"].encode("utf-8")
    if "base64" in body:
        return base64.b64decode(body["base64"])
    if "file" in body:
        path = evidence / body["file"]
        if path.exists():
            with open(path, "rb") as fh:
                return fh.read(2 * 1024 * 1024)
    return b""


def _content_type(headers: list[list[str]]) -> str:
    return next((v for k, v in headers if k.lower() == "content-type"), "")


EMBED_LIMIT = 64 * 1024  # a rendered body larger than this goes to evidence/rendered/ and is linked


def html_report(results: dict[str, Any], evidence: Path) -> str:
    """report.html. Message bodies are rendered (XML pretty-printed, MTOM parts listed with size and SHA-1,
    DICOM as a dump, HL7 one segment per line) and kept out of the page's DOM until a reader opens them:
    they sit in one JSON block that a few lines of script read on demand, so the page paints at once
    for a full campaign; a rendering over EMBED_LIMIT is written beside the evidence and linked."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    exchanges: dict[str, dict[str, Any]] = {}
    bodies: dict[str, str] = {}
    rendered_dir = evidence / "rendered"
    for ex in load_exchanges(evidence):
        for side in ("request", "response"):
            data = _body_bytes(ex[side]["body"], evidence)
            text = render_body(data, _content_type(ex[side]["headers"]), ex.get("protocol", "")) if data else ""
            key = f"{ex['id']}-{side}"
            if len(text) > EMBED_LIMIT:
                rendered_dir.mkdir(parents=True, exist_ok=True)
                (rendered_dir / f"{key}.txt").write_text(text, encoding="utf-8")
                ex[side]["link"] = f"evidence/rendered/{key}.txt"
            elif text:
                bodies[key] = text
            ex[side]["size"] = ex[side]["body"].get("size", len(data))
        exchanges[ex["id"]] = ex
    by_test: dict[str, list[dict[str, Any]]] = {}
    for t in results["tests"]:
        ids = t.get("exchanges") or [i for i, e in exchanges.items() if e.get("test") == t["nodeid"]]
        by_test[t["nodeid"]] = [exchanges[i] for i in ids if i in exchanges]
    anchors = {t["nodeid"]: hashlib.sha1(t["nodeid"].encode()).hexdigest()[:12] for t in results["tests"]}
    started = results["campaign"].get("started")
    finished = results["campaign"].get("finished")
    when = _dt.datetime.fromtimestamp(started, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if started else ""
    duration = f"{finished - started:.0f} s" if started and finished else ""
    actors = sorted({q["actor"] for q in results["requirements"]})
    bodies_json = json.dumps(bodies, ensure_ascii=False).replace("</", "<\\/")
    return env.get_template("report.html.j2").render(
        r=results, c=results["campaign"], s=results["summary"], exchanges_by_test=by_test,
        tests_anchor=anchors, started=when, duration=duration, actors=actors, bodies_json=bodies_json,
        performance=performance_section(evidence),
        operator=os.environ.get("DRIMCHECK_OPERATOR") or _login_name())


def _login_name() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return ""


def junit_xml(results: dict[str, Any]) -> str:
    """JUnit XML with one testsuite per plan; requirement ids as properties of each testcase."""
    suites: dict[str, list[dict[str, Any]]] = {}
    for t in results["tests"]:
        suites.setdefault(t.get("plan") or "tests", []).append(t)
    c = results["campaign"]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuites name="drimcheck {escape(c["id"])}" tests="{len(results["tests"])}">']
    for plan, tests in suites.items():
        fails = sum(t["outcome"] == "failed" for t in tests)
        errs = sum(t["outcome"] == "error" for t in tests)
        skips = sum(t["outcome"] in ("skipped", "not_applicable") for t in tests)
        total_time = sum(t["duration"] for t in tests)
        lines.append(f'  <testsuite name={quoteattr(plan)} tests="{len(tests)}" failures="{fails}" errors="{errs}" '
                     f'skipped="{skips}" time="{total_time:.3f}">')
        lines.append("    <properties>" + "".join(
            f'<property name={quoteattr(k)} value={quoteattr(str(c.get(k)))}/>'
            for k in ("tool_version", "git_revision", "catalog_hash")) + "</properties>")
        for t in tests:
            classname, _, name = t["nodeid"].rpartition("::")
            lines.append(f'    <testcase classname={quoteattr(classname.replace("/", ".").removesuffix(".py"))} '
                         f'name={quoteattr(name)} time="{t["duration"]:.3f}">')
            lines.append("      <properties>" + "".join(
                f'<property name="requirement" value={quoteattr(r)}/>' for r in t["requirements"]) + "</properties>")
            lines.extend(_junit_outcome(t))
            lines.append("    </testcase>")
        lines.append("  </testsuite>")
    lines.append("</testsuites>")
    return "\n".join(lines) + "\n"


def _junit_outcome(t: dict[str, Any]) -> list[str]:
    f = t.get("failure")
    text = (f"[{f['rule']}] {f['location']}: {f['message']}\nexpected: {f['expected']}\nobserved: {f['observed']}"
            if f else (t.get("message") or ""))
    if t["outcome"] == "failed":
        return [f"      <failure message={quoteattr(text.splitlines()[0] if text else 'failed')}>"
                f"{escape(text)}</failure>"]
    if t["outcome"] == "error":
        return [f"      <error message={quoteattr(text.splitlines()[0] if text else 'error')}>{escape(text)}</error>"]
    if t["outcome"] in ("skipped", "not_applicable"):
        return [f"      <skipped message={quoteattr(text[:500])}/>"]
    return []


def coverage_csv(results: dict[str, Any]) -> str:
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["requirement", "level", "actor", "official_id", "verdict", "tests", "not_tested_reason", "source"])
    for q in results["requirements"]:
        writer.writerow([q["id"], q["level"], q["actor"], q.get("official_id", ""), q["verdict"],
                         " ".join(q["tests"]), q.get("not_tested_reason", ""), q["source"]])
    return buf.getvalue()


def write_bundle(out: Path, key: EvidenceKey | None = None) -> Path:
    """evidence.zip: every file of the campaign folder, MANIFEST.sha256 over them and, with ``key``,
    MANIFEST.sha256.p7s: its CMS detached signature (RFC 5652) carrying the signer's chain."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "evidence.zip"
                   and not p.name.endswith(".tmp"))
    manifest = []
    tmp = out / "evidence.zip.tmp"
    # deflate level 1: a third of level 6's CPU on a campaign's evidence (XML, JSON, DICOM), for a bundle 13 %
    # larger; every campaign writes one, and the ANS study's adds hundreds of MB of images that do not shrink
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in files:
            rel = path.relative_to(out).as_posix()
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            manifest.append(f"{digest.hexdigest()}  {rel}")
            zf.write(path, rel)
        manifest_bytes = ("\n".join(manifest) + "\n").encode("utf-8")
        zf.writestr(MANIFEST_NAME, manifest_bytes)
        if key is not None:
            zf.writestr(SIGNATURE_NAME, sign_manifest(manifest_bytes, key.key_pem, key.cert_pem))
    os.replace(tmp, out / "evidence.zip")
    return out / "evidence.zip"


def verify_bundle(bundle: Path) -> list[str]:
    """Files whose content no longer matches the manifest (empty list: bundle intact).

    Hashes only: reports.signing.verify_bundle also checks the signature and its signer."""
    bad = []
    with zipfile.ZipFile(bundle) as zf:
        lines = zf.read(MANIFEST_NAME).decode().splitlines()
        names = set(zf.namelist()) - {MANIFEST_NAME, SIGNATURE_NAME}
        listed = set()
        for line in lines:
            digest, rel = line.split("  ", 1)
            listed.add(rel)
            if rel not in names or hashlib.sha256(zf.read(rel)).hexdigest() != digest:
                bad.append(rel)
        bad.extend(sorted(names - listed))
    return bad
