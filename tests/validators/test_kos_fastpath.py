"""The raw-bytes reader of the KOS references (harness.validators.kosrefs) against pydicom.

validate_kos reads the evidence and content sequences from raw bytes and only falls back to pydicom on
an unusual layout. These tests run both paths on the same bytes, good and broken (a missing item, a
mismatched UID, a duplicated reference, flipped bytes), and require the same findings.
"""

from __future__ import annotations

import io
import os
from dataclasses import replace

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement

from fixtures.mutations.goodset import EXAMS, build_kos, dicom_bytes
from harness.validators import kos as kos_module
from harness.validators.kos import KosReadError, read_kos, validate_kos

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on the broken values we write


def slow_findings(data: bytes, **kw) -> list[str]:
    """validate_kos as pydicom alone would do it: dcmread of the whole file, values and references by pydicom."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(kos_module, "_read_fast", lambda data: (read_kos(data), None))  # dcmread of the whole file
        m.setattr(kos_module, "_Values", lambda ds: ds)  # values by pydicom's own conversion
        m.setattr(kos_module, "_references",
                  lambda ds, cut: (kos_module.evidence_from_dataset(cut.full() if cut else ds), None))
        return sorted(map(str, validate_kos(data, **kw)))


def both(data: bytes, **kw) -> tuple[list[str], list[str]]:
    return sorted(map(str, validate_kos(data, **kw))), slow_findings(data, **kw)


def small_kos(**changes) -> pydicom.Dataset:
    return build_kos(replace(EXAMS[0], key="fast", series=2, instances=5, **changes))


def encode(ds: pydicom.Dataset, *, implicit: bool = False, undefined: bool = False) -> bytes:
    return dicom_bytes(ds, implicit=implicit, undefined=undefined)


def evidence_sops(ds):
    return [sop for series in ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
            for sop in series.ReferencedSOPSequence]


def _missing_content_item(ds):
    ds.ContentSequence.pop(3)


def _missing_evidence_item(ds):
    ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[1].ReferencedSOPSequence.pop(0)


def _mismatched_uid(ds):
    ds.ContentSequence[2].ReferencedSOPSequence[0].ReferencedSOPInstanceUID = "1.2.3.4"


def _mismatched_class(ds):
    ds.ContentSequence[4].ReferencedSOPSequence[0].ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"


def _duplicated_content(ds):
    ds.ContentSequence.append(ds.ContentSequence[1])


def _duplicated_evidence(ds):
    sops = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence
    sops.append(sops[0])


def _invalid_uid(ds):
    evidence_sops(ds)[1].ReferencedSOPInstanceUID = "1.02.3"
    ds.ContentSequence[1].ReferencedSOPSequence[0].ReferencedSOPInstanceUID = "1.02.3"


def _long_uid(ds):
    uid = "1." + "2" * 70
    evidence_sops(ds)[1].ReferencedSOPInstanceUID = uid
    ds.ContentSequence[1].ReferencedSOPSequence[0].ReferencedSOPInstanceUID = uid


def _empty_uid(ds):
    evidence_sops(ds)[2].ReferencedSOPInstanceUID = ""


def _other_relationship(ds):
    ds.ContentSequence[0].RelationshipType = "HAS PROPERTIES"


def _text_item(ds):
    text = pydicom.Dataset()
    text.RelationshipType, text.ValueType, text.TextValue = "CONTAINS", "TEXT", "Key images"
    code = pydicom.Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "113012", "DCM", "Key Object Description"
    text.ConceptNameCodeSequence = pydicom.Sequence([code])
    ds.ContentSequence.insert(2, text)


def _reversed_content(ds):
    ds.ContentSequence = pydicom.Sequence(list(ds.ContentSequence)[::-1])


def _instance_numbers(ds):
    for k, sop in enumerate(evidence_sops(ds)):
        sop.InstanceNumber = k + 1


def _composite_item(ds):
    ds.ContentSequence[0].ValueType = "COMPOSITE"


def _content_without_reference(ds):
    del ds.ContentSequence[1].ReferencedSOPSequence


def _two_references_in_content(ds):
    ds.ContentSequence[1].ReferencedSOPSequence.append(ds.ContentSequence[2].ReferencedSOPSequence[0])


def _empty_series(ds):
    ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[1].ReferencedSOPSequence = \
        pydicom.Sequence()


def _padded_uid(ds):
    """A UID padded with a space (pydicom strips it: the raw reader must agree)."""
    evidence_sops(ds)[0].ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2 "


def _odd_top_level_values(ds):
    """Values the plain-value reader must leave to pydicom or read exactly like it."""
    ds.Modality = ["KO", "SR"]
    ds.PatientSex = " M"
    ds.InstitutionName = "Hôpital^^^^^^^^^123456789"
    ds.ValueType = "CONTAINER "
    ds.ContinuityOfContent = ""
    ds.PatientComments = "75056\\x"
    ds.ReferencedRequestSequence[0].AccessionNumber = "A\tB"


EDITS = {f.__name__.lstrip("_"): f for f in (
    _odd_top_level_values,
    _missing_content_item, _missing_evidence_item, _mismatched_uid, _mismatched_class,
    _duplicated_content, _duplicated_evidence, _invalid_uid, _long_uid, _empty_uid, _other_relationship,
    _text_item, _reversed_content, _instance_numbers, _composite_item, _content_without_reference,
    _two_references_in_content, _empty_series, _padded_uid)}
EDITS["good"] = lambda ds: None


@pytest.mark.parametrize("layout", ["explicit", "implicit", "undefined", "implicit-undefined"])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_both_paths_agree(edit, layout):
    ds = small_kos()
    EDITS[edit](ds)
    data = encode(ds, implicit="implicit" in layout, undefined="undefined" in layout)
    fast, slow = both(data)
    assert fast == slow
    if edit == "good":
        assert [f for f in fast if f.startswith("ERROR")] == []


def test_both_paths_agree_on_profile_xds():
    ds = small_kos()
    _mismatched_uid(ds)
    fast, slow = both(encode(ds), profile="xds")
    assert fast == slow and fast


EXAMPLES = int(os.environ.get("DRIMCHECK_FUZZ", "150"))  # more locally: DRIMCHECK_FUZZ=5000
GOOD = encode(small_kos())
GOOD_TEXT = encode((lambda ds: (_text_item(ds), _instance_numbers(ds), ds)[-1])(small_kos()))
GOOD_IMPLICIT = encode(small_kos(), implicit=True)
GOOD_UNDEFINED = encode((lambda ds: (_text_item(ds), ds)[-1])(small_kos()), undefined=True)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.sampled_from([GOOD, GOOD_TEXT, GOOD_IMPLICIT, GOOD_UNDEFINED]), everywhere=st.booleans(),
       flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=4))
def test_flipped_bytes_give_the_same_findings(data, everywhere, flips):
    """Bytes flipped in the references (or anywhere after the file meta): when pydicom can read the
    file, both paths agree."""
    buf = bytearray(data)
    start = 144 + int.from_bytes(data[140:144], "little") if everywhere else buf.find(b"\x40\x00\x75\xa3")
    for pos, value in flips:
        buf[start + pos % (len(buf) - start)] = value
    data = bytes(buf)
    try:
        full = read_kos(data)
        for _elem in full.iterall():
            pass
    except (KosReadError, Exception):  # pydicom cannot read it: no reference to compare with
        assert isinstance(validate_kos(data), list)
        return
    fast, slow = both(data)
    if fast != slow and len(fast) == 1 and "truncated DICOM file" in fast[0]:
        assert cut_short(data)  # the validator refuses what pydicom reads silently short
        return
    assert fast == slow


def cut_short(data: bytes) -> bool:
    """pydicom read an element whose value the file does not hold entirely (it does not warn)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    raws = [ds.get_item(tag) for tag in ds.keys()]
    return any(isinstance(e, RawDataElement) and e.value is not None and len(e.value) < e.length for e in raws)


def _raw_edits() -> dict[str, bytes]:
    """Byte-level breakages the fuzz test found once: each must be read like pydicom reads it."""
    good = encode(small_kos())
    out = {}
    at = good.find(b"\x08\x00\x15\x11SQ")  # ReferencedSeriesSequence: a length 256 bytes too short
    length = int.from_bytes(good[at + 8:at + 12], "little")
    out["series-length-lies"] = good[:at + 8] + (length - 256).to_bytes(4, "little") + good[at + 12:]
    at = good.find(b"1.2.840.10008.5.1.4.1.1.2\x00", good.find(b"\x08\x00\x99\x11"))
    out["class-uid-with-tab"] = good[:at + 25] + b"\t" + good[at + 26:]
    at = good.find(b"\xfe\xff\x00\xe0", good.find(b"\x08\x00\x99\x11"))  # first SOP item: 2 bytes longer
    length = int.from_bytes(good[at + 4:at + 8], "little")
    out["sop-item-length-lies"] = good[:at + 4] + (length + 2).to_bytes(4, "little") + good[at + 8:]
    at = good.find(b"\x08\x00\x55\x11UI", good.find(b"\x08\x00\x99\x11"))  # SOP instance: length 2 shorter
    length = int.from_bytes(good[at + 6:at + 8], "little")
    out["uid-length-lies"] = good[:at + 6] + (length - 2).to_bytes(2, "little") + good[at + 8:]
    return out


@pytest.mark.parametrize("name", sorted(_raw_edits()))
def test_both_paths_agree_on_lying_bytes(name):
    data = _raw_edits()[name]
    try:
        for _elem in read_kos(data).iterall():
            pass
    except Exception:  # pydicom refuses it: then the validator must say so, not crash
        assert validate_kos(data)
        return
    fast, slow = both(data)
    assert fast == slow


@pytest.mark.parametrize("edit", ["good", "odd_top_level_values"])
def test_plain_values_are_pydicom_values(edit):
    """kos._Values.get gives what Dataset.get gives, for every attribute at any depth."""
    ds = small_kos()
    EDITS[edit](ds)
    full = read_kos(encode(ds))

    def walk(dataset, values):
        for elem in list(dataset):
            got, want = values.get(elem.keyword), dataset.get(elem.keyword)
            if elem.VR == "SQ":
                assert len(got) == len(want)
                for item, item_values in zip(want, got, strict=True):
                    walk(item, item_values)
            else:
                assert (type(got) is str and str(want) == got) or got == want, elem.keyword
        assert values.get("PatientAge", "absent") == "absent"

    walk(full, kos_module._Values(read_kos(encode(ds))))


@pytest.mark.parametrize("layout", ["explicit", "implicit", "undefined"])
@pytest.mark.parametrize("edit", ["good", "odd_top_level_values", "text_item"])
def test_direct_dataset_is_what_dcmread_makes(edit, layout):
    """The Dataset built from the element spans equals dcmread of the file minus the two big sequences."""
    ds = small_kos()
    EDITS[edit](ds)
    data = encode(ds, implicit=layout == "implicit", undefined=layout == "undefined")
    rest, _values, explicit, spans = kos_module._cut_sequences(data)
    built = kos_module._dataset(data, spans, explicit)
    if layout == "undefined":
        assert built is None  # undefined lengths elsewhere in the file: dcmread reads it
        return
    read = read_kos(rest)
    assert [(e.tag, e.VR, e.value) for e in built.iterall()] == [(e.tag, e.VR, e.value) for e in read.iterall()]
    assert [(e.tag, e.VR, e.value) for e in built.file_meta] == [(e.tag, e.VR, e.value) for e in read.file_meta]
    assert built.original_encoding == read.original_encoding
    assert built.original_character_set == read.original_character_set
