"""Replay: every ANS HL7 v2 sample of ../shared/corpus is sent over MLLP (IHE ITI TF-2x Appendix C) to the
reference Source DRIMbox, which answers with the acknowledgement written in REPLAYS and does to the DMP
simulator what the row says, with the agency's verdict on the sample and the reason beside it.

One Source, wired to the embedded PACS and to the DMP simulator (VIHF off), serves the whole module, as in
tests/source/conftest.py. Each sample is sent as stored (the copy ends its segments with LF or CRLF,
MANIFEST-drim-m-data.md; the Source reads both). Rows run in table order against that one Source, whose state
carries over: a row ``given="published"`` first has the RIS simulator's own report of the sample's study
(its images loaded in the PACS, same patient, accession and Study Instance UID) published, then sends the
sample. The DMP effect is read in the simulator's registry once the Source's outbox is empty: ``published``
(a new KOS entry), ``replaced`` (a new one, the previous Deprecated), ``deleted`` (ITI-57 to the CI-SIS
status Deleted) or ``nothing``.

What the rows show: no ANS report of the corpus reaches the PACS lookup. The report datasets are head slices
of ~325 KB files whose OBX-5 CDA, OBX-11 and DMP flag OBXs are in the part not copied, so the Source refuses
their envelope (AE) before it asks the PACS; the demonstrator's own ORU predates IG-hl7v2; the tail slices do
not start with MSH (AR). The OMI^O23 samples are complete and go through: a new order is acknowledged with
nothing to do, an exam cancellation withdraws the study's KOS when there is one and is refused (AE 204)
when there is none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from fixtures.mutations.goodset import Exam
from fixtures.studies import write_study
from harness.dicom import load_study_into_pacs
from harness.validators import detect_kind
from harness.validators.hl7v2 import Hl7Error, parse_hl7
from simulators.dmp import DmpConfig
from simulators.dmp.ebxml import DEPRECATED, DMP_DELETED
from simulators.dmp.reference import start as start_dmp
from simulators.pacs import start_pacs
from simulators.ris import messages as M
from simulators.ris import send
from simulators.source import start_reference

ANS = ("drim-m-data", "drimbox-poc-samples", "drimbox", "kos", "derived", "cda/cisis", "dmp")
DM = "drim-m-data"
JDD = f"{DM}/Référencement DRIMBox/Jeux de données/HL7v2"
CROSS = f"{DM}/test a blanc/Cross-validateur"
HOMOLOGATION = "homologation dataset (Référencement DRIMBox/Jeux de données, SEGUR vague 2)"
CUT = ("head slice of a ~325 KB ANS file (MANIFEST-drim-m-data.md): OBX-5's base64 CDA is cut (HL7-OBX-002), "
       "OBX-11 and the DMP flag OBXs are in the part not copied (HL7-OBX-001, HL7-FLAG-001); the envelope is "
       "refused before the PACS is asked, so nothing reaches the DMP")
TEMPLATE = ("a template: MSH-3 to MSH-7 (and MSH-10, but in CR_W) are {{placeholders}} the test bench fills; sent "
            "as they are, messages of one template share the key (MSH-3^MSH-4, MSH-10) a Source spots resends by, "
            "which matters once one of them is accepted (only accepted ones are remembered)")
ENVELOPE = "HL7 message does not conform to IG-hl7v2"
SLICE_RULES = "HL7-FLAG-001 HL7-OBX-001 HL7-OBX-002"


@dataclass(frozen=True)
class Replay:
    pattern: str  # fnmatch pattern over the corpus-relative path
    ack: str  # MSA-1, then ERR-3 of the first ERR segment ("AE 101"; "AA" alone when nothing is wrong)
    text: str  # a fragment of MSA-3 (empty: no text expected)
    rules: frozenset[str]  # ERR-5 of the ERR segments (the validator rules that refused it)
    dmp: str  # what the DMP simulator holds afterwards: nothing | published | replaced | deleted
    agency: str  # what the agency's README says the file is for
    reason: str
    given: str = ""  # "published": the RIS's own report of the sample's study was published first


def r(pattern: str, ack: str, text: str, rules: str, dmp: str, agency: str, reason: str, given: str = "") -> Replay:
    return Replay(pattern, ack, text, frozenset(rules.split()), dmp, agency, reason, given)


REPLAYS = [
    # --- report datasets of the homologation (ORU^R01 / MDM^T02 / MDM^T10 carrying a CR-IMG) -------------------
    r(f"{JDD}/Examen C/CR_C-ORU.hl7.head", "AE 101", ENVELOPE, SLICE_RULES, "nothing",
      HOMOLOGATION + ": ORU^R01 publishing the CR-IMG of exam C (PAT-TROIS)",
      CUT + "; whole, OBX-11 F would publish the KOS of exam C once its images are in the PACS; " + TEMPLATE),
    r(f"{JDD}/Examen C/CR_C-MDM.hl7.head", "AE 101", ENVELOPE, SLICE_RULES, "nothing",
      HOMOLOGATION + ": MDM^T02 (HL7 v2.6, TXA-12 document id) publishing the same CR-IMG of exam C",
      CUT + "; whole, the same publication as CR_C-ORU; " + TEMPLATE),
    r(f"{JDD}/Examen G/CR_G1_MAJ-MDM.hl7.head", "AE 101", ENVELOPE, SLICE_RULES, "nothing",
      HOMOLOGATION + ": MDM^T10 replacing the report of exam G (ORC-1 RO, TXA-13 parent document)",
      CUT + "; whole, a replacement: the new KOS with an RPLC association, the previous one Deprecated; "
      + TEMPLATE),
    r(f"{JDD}/Examen I/CR_I_Depublication-ORU.hl7.head", "AE 101", ENVELOPE, SLICE_RULES, "nothing",
      HOMOLOGATION + ": ORU^R01 withdrawing the report of exam I (ORC-1 CA)",
      CUT + "; whole, ORC-1 CA goes with OBX-11 D (IG-hl7v2: ORC-1 agrees with OBX-11), a deletion by ITI-57; "
      + TEMPLATE),
    r(f"{JDD}/Examen C/CR_C-*.hl7.tail", "AR 100", "does not start with an MSH segment", "", "nothing",
      HOMOLOGATION + ": the end of CR_C-ORU / CR_C-MDM",
      "tail slice (MANIFEST-drim-m-data.md): base64 then the PRT and flag OBX segments, no MSH; not a message, "
      "rejected as unreadable (HL7 v2.5 Table 0357 100)"),
    # --- exam deletion (OMI^O23 ORC-1 CA): the study's KOS, if one was published, is deleted at the DMP ---------
    r(f"{JDD}/Examen W/CR_W_Suppression-OMI.hl7", "AE 204",
      "no published KOS for study 1.2.250.1.213.4.5.2.1.124: nothing to delete", "", "nothing",
      HOMOLOGATION + ": OMI^O23 deleting exam W (complete file)",
      "the study (IPC-3) has no KOS at this Source (its report was never published here, its images are not "
      "in the PACS): refused, HL7 Table 0357 204 unknown key; " + TEMPLATE),
    r(f"{JDD}/Examen W/CR_W_Suppression-OMI.hl7", "AA", "", "", "deleted",
      HOMOLOGATION + ": OMI^O23 deleting exam W, after its report was published",
      "the homologation sequence: exam W published (the RIS simulator's report of study IPC-3, patient PID-3, "
      "accession IPC-1, its images in the PACS), then this cancellation: the KOS is deleted at the DMP by "
      "ITI-57 (status urn:asip:ci-sis:2010:StatusType:Deleted); " + TEMPLATE, given="published"),
    # --- informative OMI^O23 --------------------------------------------------------------------------------------
    r(f"{DM}/informatif/HL7v2 OMI^O23 Sample/OMI^O23-ImagingOrder.hl7", "AA", "", "", "nothing",
      "OK: 'en accord avec la définition fournie par le standard' (informatif/Readme.md)",
      "a new order (ORC-1 NW): acknowledged, nothing to publish before its report (HL7 v2.5 Table 0119)"),
    # --- cross-validator passing case ----------------------------------------------------------------------------
    r(f"{CROSS}/OK_Cas_Passant/HL7_OK.hl7.head", "AE 101", ENVELOPE, "HL7-FLAG-001 HL7-OBX-001", "nothing",
      "OK (cross-validator: flags and identities agree with the KOS and the metadata)",
      "head slice of a 488 KB ANS file (MANIFEST-drim-m-data.md): the base64 CDA stops on a 4-character "
      "boundary (so no HL7-OBX-002 here), OBX-11 and the flag OBXs are in the part not copied; refused on the "
      "envelope, before the PACS is asked"),
    # --- the demonstrator's (DRIM-M_DRIMbox) test input ----------------------------------------------------------
    r("drimbox/patient1_oru_r01.hl7", "AE 101", ENVELOPE,
      "HL7-ENC-001 HL7-FLAG-001 HL7-MSH-002 HL7-OBX-001 HL7-OBX-002 HL7-PID-001", "nothing",
      "the demonstrator's test ORU (Backend/src/test/resources/patient1.hl7): its own Source reads the patient "
      "from the CDA",
      "HL7 v2.3.1 predating IG-hl7v2: no PID (so no INS, HL7-PID-001), no MSH-21 profile, no OBX-11, OBX-5 "
      "the bare base64 without ^TEXT^XML^Base64^ (HL7-OBX-002), older flag names (INVISIBLE_REPRENSANTS_LEGAUX, "
      "MODIF_CONFIDENTIALITYCODE: HL7-FLAG-001), an OBX-3 text broken over two lines (a segment named '||N', "
      "HL7-ENC-001); IG-hl7v2 requires each, so the reference Source refuses the envelope "
      "(test_agency_samples.py gives the same rules)"),
]


# samples whose ACK does not echo MSH-10 in MSA-2 today, and why (test_ack_echoes_the_control_id_after_blank_lines)
NO_ECHO: dict[str, str] = {}  # samples whose ACK may not echo MSH-10, with the reason (none today)


# --- the corpus and the table ---------------------------------------------------------------------------------

def hl7_samples(corpus: Path) -> list[str]:
    """Corpus-relative paths of the ANS HL7 v2 samples: what the validators take as HL7, and every *.hl7 slice."""
    out = []
    for root in ANS:
        for path in sorted((corpus / root).rglob("*")):
            if not path.is_file():
                continue
            named = fnmatchcase(path.name.lower(), "*.hl7") or fnmatchcase(path.name.lower(), "*.hl7.*")
            with path.open("rb") as fh:
                if named or detect_kind(fh.read(65536), path.name) == "hl7":
                    out.append(path.relative_to(corpus).as_posix())
    return out


def rows_of(rel: str) -> list[Replay]:
    return [row for row in REPLAYS if fnmatchcase(rel, row.pattern)]


def test_every_hl7_sample_has_its_row(corpus):
    samples = hl7_samples(corpus)
    missing = [rel for rel in samples if not rows_of(rel)]
    unused = [row.pattern for row in REPLAYS if not any(fnmatchcase(rel, row.pattern) for rel in samples)]
    assert not missing, f"HL7 samples without a row in REPLAYS: {missing}"
    assert not unused, f"rows matching no corpus file: {unused}"
    assert all(row.reason and row.agency for row in REPLAYS)
    assert {row.dmp for row in REPLAYS} <= {"nothing", "published", "replaced", "deleted"}
    assert all(row.given in ("", "published") for row in REPLAYS)


# --- one Source with its PACS and DMP ---------------------------------------------------------------------------

@dataclass
class Bench:
    pacs: Any
    dmp: Any
    source: Any
    root: Path
    published: list[str] = field(default_factory=list)  # studies the RIS simulator's own report published

    def kos_entries(self) -> dict[str, str]:
        """KOS DocumentEntry id -> availability status, as the DMP simulator's registry holds them."""
        return dict(self.dmp.app.storage.query(
            "SELECT id, status FROM objects WHERE kind = 'doc' AND mime_type = 'application/dicom'"))

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until the Source's outbox has delivered (or given up on) what it queued."""
        deadline = time.monotonic() + timeout
        while any(i.state == "pending" for i in self.source.store.items()):
            assert time.monotonic() < deadline, "the Source's outbox did not empty"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def bench(corpus, tmp_path_factory) -> Iterator[Bench]:
    root = tmp_path_factory.mktemp("agency-hl7")
    pacs = start_pacs(root / "pacs")
    dmp = start_dmp(DmpConfig(workdir=root / "dmp", vihf="off"))
    try:
        source = start_reference(None, root / "source", pacs_host=pacs.host, pacs_port=pacs.port,
                                 pacs_aet=pacs.aet, pacs_dicomweb=pacs.dicomweb_url,
                                 dmp_registry=dmp.endpoints["registry"], dmp_repository=dmp.endpoints["repository"])
    except BaseException:
        dmp.stop()
        pacs.stop()
        raise
    try:
        yield Bench(pacs, dmp, source, root)
    finally:
        source.stop()
        dmp.stop()
        pacs.stop()


@dataclass(frozen=True)
class SampleExam(Exam):
    """An exam of the RIS simulator whose Study Instance UID is the sample's own (IPC-3)."""

    study: str = ""

    @property
    def study_uid(self) -> str:
        return self.study


def exam_of_sample(raw: bytes) -> SampleExam:
    """The RIS simulator's exam for the study a sample names: INS of PID-3, accession IPC-1, study IPC-3."""
    msg = parse_hl7(raw)
    pid, ipc = msg.first("PID"), msg.first("IPC")
    ins = msg.comps(msg.reps(pid.get(3))[0])[0]
    base = M.exam(f"agency-{ipc.get(3)}", series=1, instances=1)
    return SampleExam(**{**vars(base), "ins": ins, "accession": ipc.get(1)}, study=ipc.get(3))


def publish_study_of(bench: Bench, raw: bytes) -> None:
    """The sample's study in the PACS and its report (the RIS simulator's ORU^R01, OBX-11 F) published."""
    ex = exam_of_sample(raw)
    if ex.study_uid in bench.published:
        return
    refs = write_study(M.study_spec(ex, rows=16, columns=16), bench.root / "studies" / ex.key)
    load_study_into_pacs([ref.path for ref in refs], bench.pacs.host, bench.pacs.port, bench.pacs.aet)
    before = bench.kos_entries()
    _raw, ack = send(bench.source.endpoints["mllp"], M.oru(ex))
    assert ack is not None and ack.code == "AA", f"the report of {ex.study_uid} is refused: {ack}"
    bench.settle()
    assert effect(before, bench.kos_entries()) == "published", f"the report of {ex.study_uid} is not at the DMP"
    bench.published.append(ex.study_uid)


def effect(before: dict[str, str], after: dict[str, str]) -> str:
    """What changed at the DMP between two snapshots of its KOS entries."""
    changed = {after[i] for i in before if after.get(i) != before[i]}
    new = set(after) - set(before)
    if DMP_DELETED in changed:
        return "deleted"
    if new and DEPRECATED in changed:
        return "replaced"
    if new:
        return "published"
    return "nothing" if not changed else f"status changed to {sorted(changed)}"


def control_id(raw: bytes) -> str:
    """MSH-10 of a sample, what MSA-2 must echo (HL7 v2.5 §2.15.8); empty without an MSH."""
    try:
        msh = parse_hl7(raw).first("MSH")
    except Hl7Error:
        return ""
    return msh.get(10) if msh is not None else ""


def replay(bench: Bench, rel: str, row: Replay, raw: bytes) -> list[str]:
    """Send one sample as ``row`` says; the differences between what happened and the row."""
    if row.given == "published":
        publish_study_of(bench, raw)
    before = bench.kos_entries()
    _answer, ack = send(bench.source.endpoints["mllp"], raw)
    bench.settle()
    if ack is None:
        return [f"{rel}: no readable ACK ({row.reason})"]
    got = f"{ack.code} {ack.error_code}".strip()
    rules = {e.rule for e in ack.errors if e.rule and e.severity == "E"}
    seen = effect(before, bench.kos_entries())
    wrong = []
    if got != row.ack or row.text not in ack.text or rules != row.rules:
        wrong.append(f"{rel}{' (given ' + row.given + ')' if row.given else ''}: expected {row.ack} "
                     f"{row.text!r} {sorted(row.rules)}, got {got} {ack.text[:200]!r} {sorted(rules)} ({row.reason})")
    if seen != row.dmp:
        wrong.append(f"{rel}: expected at the DMP {row.dmp}, got {seen} ({row.reason})")
    if ack.control_id != control_id(raw) and rel not in NO_ECHO:
        wrong.append(f"{rel}: MSA-2 {ack.control_id!r} does not echo MSH-10 {control_id(raw)!r}")
    return wrong


def test_every_hl7_sample_gets_its_ack_and_its_effect_at_the_dmp(corpus, bench):
    """In table order, against the one Source of the module (see the module docstring)."""
    samples = hl7_samples(corpus)
    wrong = []
    for row in REPLAYS:
        for rel in (s for s in samples if fnmatchcase(s, row.pattern)):
            wrong += replay(bench, rel, row, (corpus / rel).read_bytes())
    assert not wrong, "\n".join(wrong)


def test_ack_echoes_the_control_id_after_blank_lines(corpus):
    """HL7 v2.5 §2.15.8: MSA-2 is the MSH-10 of the message acknowledged, which the Source did read (it answered
    on its content), also when the file starts with blank lines."""
    from harness.hl7 import build_ack, parse_ack

    raw = (corpus / "drimbox/patient1_oru_r01.hl7").read_bytes()
    assert raw.startswith(b"\n\n") and control_id(raw) == "104"
    assert parse_ack(build_ack(raw, "AE", "refused", "101")).control_id == "104"
