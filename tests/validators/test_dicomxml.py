"""DICOM written as XML -> Dataset (harness/validators/dicomxml.py): each value form of both the PS3.19 §A.1
Native DICOM Model and dcmtk's dcm2xml, the limits, and the ANS dumps read as their Part 10 conversions."""

from __future__ import annotations

import base64
from xml.sax.saxutils import escape

import pytest
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from harness.validators import dicomxml
from harness.validators.dicomxml import DicomXmlError, read_dicom_xml
from harness.validators.kos import validate_kos

NATIVE_NS = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
CROSS = "drim-m-data/test a blanc/Cross-validateur/OK_Cas_Passant"
CONFORMANCE = "drim-m-data/test a blanc/Validateur DICOM Standard Conformance/OK_KOS_Valide"


def dcm2xml(body: str, encoding: str = "UTF-8", meta: bool = True) -> bytes:
    head = ('<meta-header xfer="1.2.840.10008.1.2.1" name="Little Endian Explicit"><element tag="0002,0010" vr="UI" '
            'vm="1" len="20" name="TransferSyntaxUID">1.2.840.10008.1.2.1</element></meta-header>') if meta else ""
    xml = (f'<?xml version="1.0" encoding="{encoding}"?>\n<file-format>{head}<data-set xfer="1.2.840.10008.1.2.1" '
           f'name="Little Endian Explicit">{body}</data-set></file-format>')
    return xml.encode(encoding)


def native(body: str) -> bytes:
    return f'<?xml version="1.0"?><NativeDicomModel xmlns="{NATIVE_NS}">{body}</NativeDicomModel>'.encode()


def el(tag: str, vr: str, text: str, **attrs: str) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f'<element tag="{tag}" vr="{vr}" vm="1" len="0" name="x"{extra}>{text}</element>'


def attr(tag: str, vr: str, *values: str) -> str:
    inner = "".join(f'<Value number="{i}">{v}</Value>' for i, v in enumerate(values, 1))
    return f'<DicomAttribute tag="{tag}" vr="{vr}">{inner}</DicomAttribute>'


# (xml, tag, the value pydicom gives): one attribute per case, each value form of each reader
CASES = [
    (dcm2xml(el("0008,0008", "CS", "ORIGINAL\\PRIMARY")), 0x00080008, ["ORIGINAL", "PRIMARY"]),
    (dcm2xml(el("0008,0005", "CS", "ISO_IR 100") + el("0010,0010", "PN", "PAT^Séverine"), "ISO-8859-1"),
     0x00100010, "PAT^Séverine"),
    (dcm2xml(el("0028,0010", "US", "512")), 0x00280010, 512),
    (dcm2xml(el("0018,9089", "FD", "0.5\\-1")), 0x00189089, [0.5, -1.0]),
    (dcm2xml(el("0009,0010", "OB", "01\\02\\03", binary="yes")), 0x00090010, b"\x01\x02\x03\x00"),
    (dcm2xml(el("0009,0011", "OW", "0102", binary="yes")), 0x00090011, b"\x02\x01"),
    (dcm2xml(el("0009,0012", "OB", "AQI=", binary="base64")), 0x00090012, b"\x01\x02"),
    (dcm2xml(el("0028,0009", "AT", "(0018,1063)")), 0x00280009, 0x00181063),
    (dcm2xml(el("0040,a160", "UT", "a\\b")), 0x0040A160, "a\\b"),  # UT: the backslash is text
    (dcm2xml('<sequence tag="0008,1115" vr="SQ" card="1" len="0" name="x"><item card="1" len="0">'
             + el("0020,000e", "UI", "1.2.3") + "</item></sequence>"), 0x00081115, [{0x0020000E: "1.2.3"}]),
    (native(attr("00080018", "UI", "1.2.3.4")), 0x00080018, "1.2.3.4"),
    (native('<DicomAttribute tag="00100010" vr="PN"><PersonName number="1"><Alphabetic><FamilyName>DOE'
            '</FamilyName><GivenName>John</GivenName></Alphabetic><Ideographic><FamilyName>D</FamilyName>'
            '</Ideographic></PersonName></DicomAttribute>'), 0x00100010, "DOE^John=D"),
    (native('<DicomAttribute tag="00280030" vr="DS"><Value number="2">0.7</Value><Value number="1">0.5</Value>'
            '</DicomAttribute>'), 0x00280030, [0.5, 0.7]),
    (native(attr("00280011", "US", "256")), 0x00280011, 256),
    (native(attr("00280009", "AT", "00181063")), 0x00280009, 0x00181063),
    (native('<DicomAttribute tag="00091010" vr="OB"><InlineBinary>AQID</InlineBinary></DicomAttribute>'),
     0x00091010, b"\x01\x02\x03\x00"),
    (native('<DicomAttribute tag="0040A730" vr="SQ"><Item number="1">' + attr("0040A010", "CS", "CONTAINS")
            + "</Item></DicomAttribute>"), 0x0040A730, [{0x0040A010: "CONTAINS"}]),
]


def plain(value: object) -> object:
    if isinstance(value, list) or type(value).__name__ in ("MultiValue", "Sequence"):
        return [plain(v) for v in value]
    if isinstance(value, Dataset):
        return {int(e.tag): plain(e.value) for e in value}
    return value if isinstance(value, bytes | int | float) else str(value)


@pytest.mark.parametrize(("xml", "tag", "value"), CASES, ids=range(len(CASES)))
def test_values(xml, tag, value):
    ds = read_dicom_xml(xml).dataset
    assert plain(ds[tag].value) == value


def test_forms_and_left_out_values():
    read = read_dicom_xml(dcm2xml(el("0002,0001", "OB", "", binary="hidden") + el("7fe0,0010", "OW", "",
                                                                                  binary="hidden")))
    assert read.form == "dcmtk dcm2xml" and read.has_meta and read.hidden == ["(0002,0001)", "(7FE0,0010)"]
    bulk = read_dicom_xml(native('<DicomAttribute tag="7FE00010" vr="OW"><BulkData uri="x"/></DicomAttribute>'))
    assert bulk.form == "PS3.19 Native DICOM Model" and bulk.hidden == ["(7FE0,0010)"]
    assert not bulk.has_meta and str(bulk.dataset.file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.1"
    assert 0x7FE00010 not in bulk.dataset


@pytest.mark.parametrize(("xml", "reason"), [
    (b"<foo/>", "root element <foo>"),
    (b"<!DOCTYPE x [<!ENTITY a 'b'>]><NativeDicomModel/>", "DOCTYPE"),
    (b"<NativeDicomModel", "not well-formed"),
    (native(attr("zz", "UI", "1")), "8 hexadecimal digits"),
    (dcm2xml(el("0028,0010", "US", "abc")), "is not a 'H' number"),
    (dcm2xml(el("0009,0010", "OB", "xyz", binary="yes")), "not a hex value"),
    (dcm2xml(el("0009,0010", "OB", "%%%", binary="base64")), "not base64"),
    (b"<file-format><meta-header/></file-format>", "without a data-set"),
])
def test_refused(xml, reason):
    with pytest.raises(DicomXmlError, match=reason):
        read_dicom_xml(xml)


def test_limits(monkeypatch):
    with pytest.raises(DicomXmlError, match="exceeds the limit"):
        read_dicom_xml(native(attr("00080018", "UI", "1.2")), max_bytes=50)
    monkeypatch.setattr(dicomxml, "MAX_ELEMENTS", 2)
    with pytest.raises(DicomXmlError, match="more than 2 attributes"):
        read_dicom_xml(native(attr("00080018", "UI", "1") + attr("00080016", "UI", "1") + attr("00100020", "LO", "x")))
    monkeypatch.setattr(dicomxml, "MAX_ELEMENTS", 100)
    monkeypatch.setattr(dicomxml, "MAX_DEPTH", 1)
    nested = '<DicomAttribute tag="00081115" vr="SQ"><Item number="1">' * 3 + "</Item></DicomAttribute>" * 3
    with pytest.raises(DicomXmlError, match="nested deeper than 1"):
        read_dicom_xml(native(nested))


@pytest.mark.parametrize(("xml", "dcm"), [(f"{CROSS}/KOS_OK.xml", "derived/kos_ok.dcm"),
                                          (f"{CONFORMANCE}/OK_KOS_Valide.xml", "derived/kos_valide.dcm")])
def test_ans_dumps_read_as_their_part10_conversions(corpus_file, xml, dcm):
    """MANIFEST: derived/*.dcm are dcmtk xml2dcm conversions of these dcm2xml dumps (pretty-printing
    whitespace inside values collapsed): same findings, same values but that whitespace."""
    ds = read_dicom_xml(corpus_file(xml).read_bytes()).dataset
    part10 = corpus_file(dcm).read_bytes()
    assert validate_kos(ds) == validate_kos(part10)
    from pydicom import dcmread
    ref = dcmread(corpus_file(dcm))
    assert [e.keyword for e in ds] == [e.keyword for e in ref]
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "SOPInstanceUID", "PatientBirthDate"):
        assert ds.get(keyword) == ref.get(keyword), keyword


def to_native(ds: Dataset) -> str:
    """A Dataset in the PS3.19 Native DICOM Model (test helper: what a PS3.19 writer produces)."""
    out = []
    for elem in ds:
        tag = f"{elem.tag:08X}"
        if elem.VR == "SQ":
            items = "".join(f'<Item number="{i}">{to_native(item)}</Item>' for i, item in enumerate(elem.value, 1))
            out.append(f'<DicomAttribute tag="{tag}" vr="SQ">{items}</DicomAttribute>')
        elif elem.VR in ("OB", "OW", "UN"):
            out.append(f'<DicomAttribute tag="{tag}" vr="{elem.VR}"><InlineBinary>'
                       f'{base64.b64encode(elem.value).decode()}</InlineBinary></DicomAttribute>')
        else:
            values = elem.value if elem.VM > 1 else [elem.value] if elem.VM else []
            if elem.VR == "PN":
                parts = [f"<PersonName number='{i}'><Alphabetic>" + "".join(
                    f"<{n}>{escape(c)}</{n}>" for n, c in zip(dicomxml._NAME_PARTS, str(v).split("^"), strict=False))
                    + "</Alphabetic></PersonName>" for i, v in enumerate(values, 1)]
            else:
                parts = [f'<Value number="{i}">{escape(str(v))}</Value>' for i, v in enumerate(values, 1)]
            out.append(f'<DicomAttribute tag="{tag}" vr="{elem.VR}">{"".join(parts)}</DicomAttribute>')
    return "".join(out)


def test_native_model_of_the_good_kos_gives_its_part10_findings(good):
    from fixtures.mutations import MUTATIONS
    from harness.validators.kos import read_kos

    for data in (good["exam1/kos.dcm"], MUTATIONS["missing-retrieve-url"].apply(good["exam1/kos.dcm"])):
        ds = read_kos(data)
        xml = native(to_native(ds.file_meta) + to_native(ds))
        assert validate_kos(read_dicom_xml(xml).dataset) == validate_kos(data)
    assert Tag(0x00080016) in read_dicom_xml(xml).dataset
