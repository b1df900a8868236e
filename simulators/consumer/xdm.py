"""IHE XDM media (ITI-32 Distribute Document Set on Media) written and read by the reference Consumer DRIMbox.

The ANS label asks a Consumer to export a study as XDM media and to import one (ANS DRIM-M_DATA
``Référencement DRIMBox/Jeux de données/XDM``, ``informatif/XDM``; FACTS §8 "lifecycle datasets").

Export (:func:`write_package`), the ZIP form of the media (ITI TF-2b §3.32.4.1, DICOM PS3.12 Annex V):

- ``README.TXT`` and ``INDEX.HTM`` at the root (ITI TF-2b §3.32.4.1.2.1), 8.3 names throughout;
- ``IHE_XDM/SUBSET01/METADATA.XML``: an ``lcm:SubmitObjectsRequest`` (ITI TF-2b §3.32.4.1.2.2) holding a new
  SubmissionSet of this Consumer, the KOS DocumentEntry exactly as the DMP returned it to ITI-18 GetDocuments with
  ``URI``, ``hash`` and ``size`` set for the media (ITI TF-3 §4.3.1, XDM column), and an IHE DSG signature
  document (ITI TF-3 §5.5) signed with the Consumer's structure key, that ``signs`` the SubmissionSet (the DMP
  rules of ANS DRIM-M_DATA ``Validateur XDS/XDS.xml``);
- ``IHE_XDM/SUBSET01/KOS.DCM`` (the KOS as ITI-43 returned it) and ``SIGN.XML``;
- ``IHE_XDM/SUBSET01/IMAGES/Snnn/Innnnn.DCM``: every instance the KOS lists, as the Source served it over WADO-RS,
  stored uncompressed in the ZIP (an image is copied, never held whole in memory).

The ZIP is written to ``<name>.part`` and renamed once complete: there is never a half-written package. No
DICOMDIR is written: an XDM importer reads the media through METADATA.XML and the XDM validator asks for none; a
media meant to be read as PDI too (IHE RAD TF-3 §4.47, DICOM File IDs under a root DICOMDIR) would need one.

Import (:func:`import_package`): the package is read by the XDM validator's guarded reader
(:func:`harness.validators.xdm.unpack_xdm`: size, member and path guards, never extracted whole) and validated
first; a package with an error is refused with its findings and nothing of it is stored. The instances the KOS
lists are then stored into the local PACS by C-STORE series by series, as a retrieved study is
(:mod:`simulators.consumer.importer`: all or nothing per series, the local patient id rewrite). A package whose
KOS names another patient than the contextual call is refused (identity vigilance, as for retrieval).

A valid package may hold its KOS and no image: XDS-I.b media carry the manifest, the images stay at the Source
its Retrieve URLs name (IHE RAD TF-3 §4.68). Then the KOS itself is stored, and the result says so and that the
images are to be retrieved. The ANS samples are both refused, each with the findings the XDM validator gives
them: the demonstrator's export (``drimbox-poc-samples/XDM/KA202401``, a KOS and no image) breaks five rules,
among them a signature file altered after export (its hash and size no longer match METADATA.XML); the
informative copy (``drim-m-data/informatif/XDM/KA202401``) is a METADATA.XML fragment alone, with no README.TXT,
INDEX.HTM or document.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pydicom
from flask import Blueprint, Response, current_app, request, send_file
from lxml import etree

from harness.findings import Finding, Severity
from harness.validators.kos import Refs
from harness.validators.xdm import unpack_xdm
from harness.xds.builder import CONF_NORMAL, SIG_CLASS, SIG_EVENT, SIG_FORMAT, SIG_TYPE, signature_document
from harness.xds.ebrim import parse_registry_object_list, submission_to_ebrim
from harness.xds.model import (
    ASSOCIATION_TYPES,
    SS_CLASSIFICATION_SCHEMES,
    Association,
    Author,
    Classification,
    DocumentEntry,
    Submission,
    SubmissionSet,
)
from simulators.consumer import pages
from simulators.consumer.importer import import_series
from simulators.consumer.retrieve import Pacer, SeriesResult

RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
SUBSET = "IHE_XDM/SUBSET01"
KOS_NAME, SIGN_NAME, IMAGES = "KOS.DCM", "SIGN.XML", "IMAGES"
SOURCE_ID = "1.2.250.1.999.1.3"  # sourceId of this Consumer's submission sets (a test arc, as the builder's)
RPPS_OID, FINESS_OID = "1.2.250.1.71.4.2.1", "1.2.250.1.71.4.2.2"  # authorPerson / authorInstitution authorities
CONTENT_TYPE = ("04", "1.2.250.1.213.2.2", "Hospitalisation de jour")  # as in ANS Validateur XDS/XDS.xml
MAX_UPLOAD = 1 << 30  # an uploaded package; a 1300-image CT study is well below
CHUNK = 1 << 20


@dataclass(frozen=True)
class XdmOptions:
    """Choices of the XDM export and import that the named faults change; the defaults are the correct behaviour."""

    hash_size: bool = True  # the KOS DocumentEntry carries hash and size (ITI TF-3 §4.3.1, XDM)
    first_series_only: bool = False  # the images of the first series only go into the package
    validate_import: bool = True  # an uploaded package is validated, and refused on an error, before any C-STORE
    write_pace: float | None = None  # bytes per second: the package written no faster (a named fault)


class _PacedFile:
    """A file written at most ``rate`` bytes per second; the rest of the file's interface (seek, tell, flush)
    as is, which is what :class:`zipfile.ZipFile` uses."""

    def __init__(self, raw: Any, rate: float) -> None:
        self._raw, self._pacer = raw, Pacer(rate)

    def write(self, data: bytes) -> int:
        written = self._raw.write(data)
        self._pacer.took(written)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


@dataclass(frozen=True)
class Exporter:
    """Who makes the media: the professional logged in and the structure (README.TXT, SubmissionSet author)."""

    professional_id: str
    professional_name: str
    structure_id: str
    application: str
    version: str


# ============================================================================ export

def kos_entry(client: Any, unique_id: str, patient: str) -> etree._Element:
    """The KOS DocumentEntry as the DMP holds it: ITI-18 GetDocuments by uniqueId (ITI TF-2a §3.18.4.1.2.3.7.5)."""
    result = client.query("GetDocuments", {"$XDSDocumentEntryUniqueId": [unique_id]}, patient=patient)
    if result.query is None or not result.success:
        reason = result.decode_error or result.fault or "; ".join(f"{e.code} {e.context}" for e in result.errors)
        raise ValueError(f"ITI-18 GetDocuments failed: {reason or f'HTTP {result.http_status}'}")
    entries = result.query.of_kind("ExtrinsicObject")
    if not entries:
        raise ValueError(f"ITI-18 GetDocuments returned no entry {unique_id}")
    return entries[0]


def _slot(elem: etree._Element, name: str, values: Iterable[str]) -> None:
    """Set Slot ``name`` of a RegistryObject, placed after its other Slots (ebRIM 3.0 rim.xsd: Slot first)."""
    for old in elem.findall(f"{RIM}Slot[@name='{name}']"):
        elem.remove(old)
    slot = etree.Element(f"{RIM}Slot", name=name)
    value_list = etree.SubElement(slot, f"{RIM}ValueList")
    for v in values:
        etree.SubElement(value_list, f"{RIM}Value").text = v
    elem.insert(len(elem.findall(f"{RIM}Slot")), slot)


def _author(who: Exporter) -> Author:
    family, _, given = who.professional_name.partition("^")
    return Author(person=f"{who.professional_id}^{family}^{given}^^^^^^&{RPPS_OID}&ISO^D^^^IDNPS",
                  institutions=[f"{who.application}^^^^^&{FINESS_OID}&ISO^IDNST^^^{who.structure_id}"])


def metadata(entry: etree._Element, kos: bytes, who: Exporter, signer: tuple[bytes, bytes] | None,
             options: XdmOptions = XdmOptions()) -> tuple[bytes, bytes]:
    """(METADATA.XML, SIGN.XML): a new SubmissionSet with the DMP's KOS entry and a DSG signature of the KOS
    (ITI TF-2b §3.32.4.1.2.2, ITI TF-3 §4.3.1 XDM, §5.5 DSG)."""
    kos_xml = etree.fromstring(etree.tostring(entry))
    holder = etree.Element(f"{RIM}RegistryObjectList")
    holder.append(etree.fromstring(etree.tostring(entry)))
    parsed = parse_registry_object_list(holder)[0][0]
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    author = _author(who)
    ss = SubmissionSet(id="SubmissionSet01", uniqueId=f"2.25.{uuid.uuid4().int}", sourceId=SOURCE_ID,
                       patientId=parsed.patientId, submissionTime=now, authors=[author],
                       contentTypeCode=Classification(SS_CLASSIFICATION_SCHEMES["contentTypeCode"], *CONTENT_TYPE),
                       title="Export XDM d'un examen d'imagerie")
    sign = signature_document([(parsed.uniqueId or "", kos)], signer=signer)
    sig = DocumentEntry(
        id="Signature01", uniqueId=f"2.25.{uuid.uuid4().int}", patientId=parsed.patientId,
        sourcePatientId=parsed.patientId, mimeType="text/xml", classCode=replace(SIG_CLASS), typeCode=replace(SIG_TYPE),
        formatCode=replace(SIG_FORMAT), confidentialityCodes=[replace(CONF_NORMAL)], eventCodes=[replace(SIG_EVENT)],
        practiceSettingCode=parsed.practiceSettingCode, healthcareFacilityTypeCode=parsed.healthcareFacilityTypeCode,
        languageCode="art", creationTime=now, serviceStartTime=now, serviceStopTime=now, title="Source",
        authors=[author], hash=hashlib.sha1(sign).hexdigest(), size=str(len(sign)), slots={"URI": [SIGN_NAME]})
    status = {"SubmissionSetStatus": ["Original"]}
    sub = Submission(submission_set=ss, documents=[sig], associations=[
        Association("assoc-kos", ASSOCIATION_TYPES["HasMember"], ss.id, parsed.id, dict(status)),
        Association("assoc-sig", ASSOCIATION_TYPES["HasMember"], ss.id, sig.id, dict(status)),
        Association("assoc-signs", ASSOCIATION_TYPES["signs"], sig.id, ss.id, dict(status))])
    sor = submission_to_ebrim(sub)
    _slot(kos_xml, "URI", [KOS_NAME])
    for name in ("hash", "size"):
        for old in kos_xml.findall(f"{RIM}Slot[@name='{name}']"):
            kos_xml.remove(old)
    if options.hash_size:  # of the bytes on the media, the same as the DMP's for the KOS ITI-43 returned
        _slot(kos_xml, "hash", [hashlib.sha1(kos).hexdigest()])
        _slot(kos_xml, "size", [str(len(kos))])
    olist = sor.find(f"{RIM}RegistryObjectList")
    olist.insert(1, kos_xml)
    return etree.tostring(sor, xml_declaration=True, encoding="UTF-8"), sign


def readme(who: Exporter, names: list[str]) -> bytes:
    """README.TXT: who made the media, with which application, what to do with it, its content
    (ITI TF-2b §3.32.4.1.2.1)."""
    lines = ["Emetteur :", "=========", f"    . Professionnel : {who.professional_name.replace('^', ' ')} "
             f"({who.professional_id})", f"    . Structure : {who.structure_id}", "",
             "Application de l'emetteur :", "==========================", f"    . Nom : {who.application}",
             f"    . Version : {who.version}", "", "Instructions :", "=============",
             "    . Importez ce support dans votre logiciel de professionnel de sante (IHE XDM, ITI-32) :",
             "      IHE_XDM/SUBSET01/METADATA.XML decrit les documents ; les images DICOM sont sous IMAGES.", "",
             "Arborescence :", "=============", "     README.TXT", "     INDEX.HTM",
             *(f"     {n}" for n in names)]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def index_htm(who: Exporter, images: int) -> bytes:
    """INDEX.HTM: links to README.TXT and to the content (ITI TF-2b §3.32.4.1.2.1)."""
    sender = escape(f"structure {who.structure_id}, {who.application} {who.version}")
    lines = ['<!DOCTYPE html>', '<html lang="fr"><head><meta charset="utf-8"><title>Export XDM</title></head><body>',
             "<h1>Examen d'imagerie (IHE XDM)</h1>", f"<p>Emetteur : {sender}</p>",
             '<ul><li><a href="README.TXT">README.TXT</a></li>',
             f'<li><a href="{SUBSET}/METADATA.XML">METADATA.XML</a></li>',
             f'<li><a href="{SUBSET}/{KOS_NAME}">KOS</a></li>',
             f"<li>{images} image(s) DICOM sous {SUBSET}/{IMAGES}</li></ul>", "</body></html>"]
    return ("\r\n".join(lines) + "\r\n").encode()


def write_package(target: Path, *, entry: etree._Element, kos: bytes, series: list[dict[str, Path]], who: Exporter,
                  signer: tuple[bytes, bytes] | None = None, options: XdmOptions = XdmOptions()) -> Path:
    """Write the XDM ZIP of one study to ``target`` (see the module docstring); ``series`` holds, per series of the
    KOS, its instances' files by SOP Instance UID. Written to ``target.part`` and renamed once whole."""
    meta, sign = metadata(entry, kos, who, signer, options)
    images = []
    for i, files in enumerate(series[:1] if options.first_series_only else series, 1):
        images += [(f"{SUBSET}/{IMAGES}/S{i:03d}/I{j:07d}.DCM", path)
                   for j, (_uid, path) in enumerate(sorted(files.items()), 1)]
    names = [f"{SUBSET}/METADATA.XML", f"{SUBSET}/{KOS_NAME}", f"{SUBSET}/{SIGN_NAME}",
             f"{SUBSET}/{IMAGES}/ ({len(images)} image(s))"]
    part = target.with_name(target.name + ".part")
    try:
        with open(part, "wb") as raw, zipfile.ZipFile(
                _PacedFile(raw, options.write_pace) if options.write_pace else raw, "w", allowZip64=True) as zf:
            for name, data in (("README.TXT", readme(who, names)), ("INDEX.HTM", index_htm(who, len(images))),
                               (f"{SUBSET}/METADATA.XML", meta), (f"{SUBSET}/{KOS_NAME}", kos),
                               (f"{SUBSET}/{SIGN_NAME}", sign)):
                zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
            for name, path in images:  # DICOM stored as is: copied in chunks, and no ratio a reader would refuse
                zf.write(path, name, compress_type=zipfile.ZIP_STORED)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


# ============================================================================ import

@dataclass
class ImportOutcome:
    """What an import did: ``imported`` or ``refused``, why, the validator's findings, the per-series results."""

    status: str
    message: str
    findings: list[Finding] = field(default_factory=list)
    results: list[SeriesResult] = field(default_factory=list)
    patient_id: str = ""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


def _series_of(kos_files: list[Path], images: dict[str, Path]) -> tuple[list[SeriesResult], str]:
    """One complete SeriesResult per series the KOS lists, with the listed instances the package holds; and the
    KOS's PatientID. Instances no KOS lists are left out (ITI TF-2b §3.32.4.1.2: an importer ignores them)."""
    by_series: dict[str, dict[str, Path]] = {}
    patient = ""
    for path in kos_files:
        ds = pydicom.dcmread(path)
        patient = patient or str(ds.get("PatientID", "") or "")
        for _i, _j, _k, _cls, uid in Refs(ds).sop_list:
            if uid in images:
                by_series.setdefault(_series_uid(images[uid]), {})[uid] = images[uid]
    return [SeriesResult(s, "complete", files=files) for s, files in by_series.items()], patient


def _series_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"])
               .get("SeriesInstanceUID", ""))


def import_package(path: Path, folder: Path, pacs: Any, *, expected_ins: str | None = None, local_id: str = "",
                   local_issuer: str = "", log_dir: Path | None = None, rewrite: Callable[[Path], Path] | None = None,
                   options: XdmOptions = XdmOptions()) -> ImportOutcome:
    """Validate the package at ``path`` and C-STORE what it holds into ``pacs`` (see the module docstring).
    ``folder`` receives the copied files and is removed at the end."""
    try:
        unpacked = unpack_xdm(path, folder, "dmp", dciodvfy=False, refuse_errors=options.validate_import)
        findings = unpacked.checked.findings
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors and options.validate_import:
            return ImportOutcome("refused", f"paquet XDM refusé : {len(errors)} erreur(s), rien n'a été importé",
                                 findings)
        if not unpacked.koses:
            return ImportOutcome("refused", "le paquet ne contient aucun KOS : rien à importer", findings)
        results, patient = _series_of(unpacked.koses, unpacked.images)
        if expected_ins is not None and patient != expected_ins:
            return ImportOutcome("refused", f"le KOS du paquet désigne le patient {patient!r}, l'appel contextuel "
                                 f"{expected_ins!r} : rien n'a été importé", findings, patient_id=patient)
        note = ""
        if not unpacked.images:
            ds = pydicom.dcmread(unpacked.koses[0], stop_before_pixels=True)
            results = [SeriesResult(str(ds.get("SeriesInstanceUID", "")), "complete",
                                    files={str(ds.SOPInstanceUID): unpacked.koses[0]})]
            note = ("le paquet ne contient pas d'images : seul le KOS a été importé, les images restent à récupérer "
                    "auprès de la source que ses Retrieve URL désignent")
        for result in results:
            import_series(result, pacs, local_id=local_id, local_issuer=local_issuer, log_dir=log_dir,
                          rewrite=rewrite)
        stored = sum(r.imported for r in results)
        failed = [r for r in results if r.status != "imported"]
        status = "imported" if not failed else "import-failed"
        message = note or f"{stored} instance(s) importée(s) en {len(results)} série(s)"
        if failed:
            message = f"{len(failed)} série(s) non importée(s) : {failed[0].message}"
        return ImportOutcome(status, message, findings, results, patient)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ============================================================================ pages

bp = Blueprint("xdm", __name__)


def _state() -> Any:
    return current_app.extensions["consumer"]


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return pages.page(template, status, **context)


def _error(title: str, message: str, status: int, **extra: Any) -> Response:
    return pages.error(title, message, status, **extra)


def _context(ctx: str) -> tuple[Any, Any, Response | None]:
    """(login, call, None), or an early answer: the same session rules as the other pages."""
    return pages.context(_state(), ctx)


def _exam_manifest(ctx: str, uid: str) -> tuple[Any, Any, Any, Any, Response | None]:
    return pages.exam_manifest(_state(), ctx, uid)


def _exporter(state: Any, login: Any) -> Exporter:
    pro = login.professional
    name = f"{pro.family}^{pro.given}" if pro is not None else ""
    cfg = state.config
    return Exporter(pro.id if pro is not None else "", name, cfg.structure_id, cfg.lps_name, cfg.lps_version)


@bp.route("/exams/<ctx>/<uid>/export.zip", methods=["GET", "POST"])
def export(ctx: str, uid: str) -> Response:
    """The exam as XDM media (ZIP): its KOS entry from the DMP, the KOS, the images retrieved over WADO-RS."""
    login, call, exam, manifest, page = _exam_manifest(ctx, uid)
    if page is not None:
        return page
    state = _state()
    try:
        entry = kos_entry(state.xds(login), exam.unique_id, call.dmp_patient_id)
    except (OSError, ValueError) as exc:
        return _error("DMP indisponible", str(exc), 502, call=call)
    work = Path(tempfile.mkdtemp(prefix="xdm-export-", dir=state.config.workdir))
    try:
        results = _retrieve(state, login, manifest, work / "series")
        if any(r.status == "unauthorized" for r in results):
            login.access_token = ""
        if any(r.status != "complete" for r in results):
            shutil.rmtree(work, ignore_errors=True)
            return _page("xdm_export.html", 502, call=call, exam=exam, results=results, ctx=ctx)
        options = state.behaviour.xdm
        cfg = state.config
        signer = (cfg.vihf_key, cfg.vihf_cert) if cfg.vihf_key and cfg.vihf_cert else None
        name = f"XDM_{exam.accession or manifest.study_uid}.zip".replace("/", "_")
        target = write_package(work / name, entry=entry, kos=manifest.raw, series=[r.files for r in results],
                               who=_exporter(state, login), signer=signer, options=options)
        for r in results:
            shutil.rmtree(work / "series" / r.series_uid, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    response = send_file(target, mimetype="application/zip", as_attachment=True, download_name=name,
                         conditional=False)
    response.call_on_close(lambda: shutil.rmtree(work, ignore_errors=True))
    return response


@bp.get("/exams/<ctx>/xdm")
def import_form(ctx: str) -> Response:
    _login, call, early = _context(ctx)
    if early is not None:
        return early
    return _page("xdm_import.html", call=call, ctx=ctx, max_mb=MAX_UPLOAD >> 20)


@bp.post("/exams/<ctx>/xdm")
def import_upload(ctx: str) -> Response:
    """An uploaded XDM ZIP: saved (size-capped), validated, then its images C-STOREd into the local PACS."""
    _login, call, early = _context(ctx)
    if early is not None:
        return early
    state = _state()
    request.max_content_length = MAX_UPLOAD + (1 << 20)
    work = Path(tempfile.mkdtemp(prefix="xdm-import-", dir=state.config.workdir))
    try:
        upload = request.files.get("package")
        if upload is None or not upload.filename:
            return _error("Import XDM", "Aucun fichier reçu (champ « package »)", 400, call=call)
        path = work / "package.zip"
        if not _save(upload.stream, path):
            return _error("Import XDM", f"Paquet trop volumineux (au plus {MAX_UPLOAD >> 20} Mo)", 413, call=call)
        pacs = _pacs(state)
        if pacs is None:
            return _error("Import XDM", "Aucun PACS local n'est configuré", 503, call=call)
        behaviour = state.behaviour
        outcome = import_package(
            path, work / "files", pacs, expected_ins=call.ins if behaviour.check_kos_patient else None,
            local_id=request.form.get("local_patient_id", "").strip()[:64],
            local_issuer=request.form.get("local_issuer", "").strip()[:64], log_dir=Path(state.config.workdir),
            rewrite=behaviour.rewrite_before_store, options=behaviour.xdm)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    status = {"imported": 200, "refused": 422}.get(outcome.status, 502)
    return _page("xdm_result.html", status, call=call, ctx=ctx, outcome=outcome)


def _retrieve(state: Any, login: Any, manifest: Any, folder: Path) -> list[SeriesResult]:
    """Every series of the KOS over WADO-RS, as an import retrieves them (same token, KOS UID and Accept rules)."""
    from simulators.consumer.retrieve import SeriesRetriever

    cfg = state.config
    retriever = SeriesRetriever(state.wado, token=lambda: login.access_token, reauth=lambda: state.psc.refresh(login),
                                kos_uid=manifest.sop_instance_uid, accept=cfg.accept, folder=folder,
                                retries=cfg.retries, retry_delay=cfg.retry_delay, timeout=cfg.timeout,
                                max_part_bytes=cfg.max_part_bytes, options=state.behaviour.retrieve)
    folder.mkdir(parents=True, exist_ok=True)
    return [retriever.retrieve(ref) for ref in manifest.series]


def _save(stream: Any, path: Path) -> bool:
    """Copy the upload to ``path``; False (and nothing kept) past :data:`MAX_UPLOAD`."""
    size = 0
    with path.open("wb") as fh:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD:
                break
            fh.write(chunk)
    if size > MAX_UPLOAD:
        path.unlink()
        return False
    return True


def _pacs(state: Any) -> Any:
    from simulators.consumer.importer import parse_peer

    cfg = state.config
    return parse_peer(cfg.pacs, cfg.calling_aet) if cfg.pacs else None
