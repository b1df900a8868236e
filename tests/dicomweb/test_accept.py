"""Accept parsing and negotiation (PS3.18 §8.7, ANS DRIM-M_DATA Simulateur client wadoRS), with the ANS client
simulator's requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.dicomweb.accept import (
    DEFAULT_TRANSFER_SYNTAX,
    MAX_HEADER_LINES,
    MAX_TOTAL_LENGTH,
    TRANSFER_SYNTAXES,
    AcceptError,
    MediaRange,
    Offer,
    dicom_offers,
    negotiate,
    parse_accept,
    quality,
)

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
ANS_WADO = CORPUS / "drim-m-data" / "test a blanc" / "Simulateur client wadoRS"
MR = 'multipart/related; type="application/dicom"'
JLS, J2K, JPEG, ELE, JLL = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.50",
                            "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.70")

PARSE_CASES = [
    (["application/dicom+json"], [MediaRange("application", "dicom+json")]),
    ([f"{MR}; transfer-syntax={JLS}; q=0.5"],
     [MediaRange("multipart", "related", (("type", "application/dicom"), ("transfer-syntax", JLS)), 0.5)]),
    # comma-joined, no spaces, boundary=** and a trailing comma, as the ANS simulator sends
    ([f'multipart/related; type="application/dicom";transfer-syntax={JLS};q=0.5;boundary=**,'
      f'multipart/related; type="application/dicom";transfer-syntax={ELE};q=1.0;boundary=**,'],
     [MediaRange("multipart", "related", (("type", "application/dicom"), ("transfer-syntax", JLS),
                                          ("boundary", "**")), 0.5),
      MediaRange("multipart", "related", (("type", "application/dicom"), ("transfer-syntax", ELE),
                                          ("boundary", "**")), 1.0)]),
    # several Accept lines ("SwitchHeaders")
    (["application/octet-stream; q=0.2", "*/*;q=0.1"],
     [MediaRange("application", "octet-stream", (), 0.2), MediaRange("*", "*", (), 0.1)]),
    (["*"], [MediaRange("*", "*")]),
    (["Multipart/Related; TYPE=\"application/dicom\"; transfer-syntax=*"],
     [MediaRange("multipart", "related", (("type", "application/dicom"), ("transfer-syntax", "*")))]),
    # a quoted parameter may hold commas and semicolons
    (['multipart/related; type="application/dicom; x=1, y"; q=0'],
     [MediaRange("multipart", "related", (("type", "application/dicom; x=1, y"),), 0.0)]),
    ([" , ,"], []),
    ([], []),
]


@pytest.mark.parametrize(("values", "expected"), PARSE_CASES)
def test_parse_accept(values, expected):
    assert parse_accept(values) == expected


@pytest.mark.parametrize("value", [
    "text", "a/b/c", "*/json", f"{MR}; q=1.5", f"{MR}; q=0.1234", f"{MR}; q=abc", f"{MR}; q=-1",
    f"{MR}; transfer-syntax=../../etc", f"{MR}; transfer-syntax=1.2.;", 'multipart/related; type="open',
    "multipart/related; =x", "multipart/related; noequals",
])
def test_parse_accept_rejects(value):
    with pytest.raises(AcceptError):
        parse_accept([value])


def test_bounds_on_huge_headers():
    with pytest.raises(AcceptError, match="lines"):
        parse_accept(["*/*"] * (MAX_HEADER_LINES + 1))
    with pytest.raises(AcceptError, match="longer"):
        parse_accept(["a/b;" + "x" * MAX_TOTAL_LENGTH])
    with pytest.raises(AcceptError, match="media ranges"):
        parse_accept([",".join(["a/b"] * 200)])
    with pytest.raises(AcceptError, match="parameters"):
        parse_accept(["a/b;" + ";".join(f"p{i}=1" for i in range(20))])


STORED = [JLS, ELE, JLL, J2K, JPEG]  # server preference: as stored first, then what it can transcode to

NEGOTIATE_CASES = [
    # (Accept values, offers, chosen transfer syntax or None for 406)
    ([f"{MR}; transfer-syntax={J2K}; q=0.9", f"{MR}; transfer-syntax={JLS}; q=0.5"], STORED, J2K),
    ([f"{MR}; transfer-syntax={J2K}; q=0.5, {MR}; transfer-syntax={JLS}; q=0.5"], STORED, JLS),  # tie: server
    ([f"{MR}; transfer-syntax=*"], STORED, JLS),
    ([MR], STORED, ELE),  # no transfer-syntax: Explicit VR Little Endian (PS3.18 §8.7.3)
    ([MR], [JLS], None),
    (["*/*"], STORED, JLS),
    (["multipart/*"], STORED, JLS),
    ([f"{MR}; transfer-syntax=1.2.840.10008.1.2.4.103"], STORED, None),  # unknown to the server: 406
    ([f"{MR}; transfer-syntax={JLS}; q=0"], STORED, None),
    (["*/*; q=0.5", f"{MR}; transfer-syntax={JLS}; q=0"], STORED, ELE),  # most specific range wins
    (['multipart/related; type="application/dicom+json"'], STORED, None),
    (["application/dicom+json"], STORED, None),
    ([], STORED, JLS),
]


@pytest.mark.parametrize(("values", "offers", "chosen"), NEGOTIATE_CASES)
def test_negotiate(values, offers, chosen):
    offer = negotiate(parse_accept(values), dicom_offers(offers))
    assert (offer.transfer_syntax if offer else None) == chosen


def test_negotiate_metadata_and_frames():
    json_offer = Offer("application/dicom+json")
    frames = Offer("application/octet-stream", transfer_syntax=ELE)
    ranges = parse_accept(["application/dicom+json, application/json; q=0.5"])
    assert negotiate(ranges, [json_offer]) == json_offer
    assert negotiate(parse_accept(["application/octet-stream"]), [frames]) == frames
    assert negotiate(parse_accept([f"application/octet-stream; transfer-syntax={JLS}"]), [frames]) is None
    assert quality(parse_accept(["application/*;q=0.3"]), json_offer) == 0.3


def test_negotiate_compressed_frames_by_part_media_type():
    jls = Offer("multipart/related", "image/jls", JLS)
    native = Offer("multipart/related", "application/octet-stream")
    assert negotiate(parse_accept(['multipart/related; type="image/jls"']), [jls, native]) == jls
    assert negotiate(parse_accept(['multipart/related; type="image/jp2"']), [jls, native]) is None
    ranges = parse_accept(['multipart/related; type="application/octet-stream"; transfer-syntax=' + ELE])
    assert negotiate(ranges, [jls, native]) == native
    assert negotiate(parse_accept([f'multipart/related; type="image/jls"; transfer-syntax={J2K}']), [jls]) is None


def test_offer_content_type():
    assert (Offer("multipart/related", "application/dicom", JLS).content_type("bb")
            == f'{MR}; transfer-syntax={JLS}; boundary=bb')
    assert Offer("application/dicom+json").content_type() == "application/dicom+json"


def test_default_transfer_syntax_is_known():
    assert TRANSFER_SYNTAXES[DEFAULT_TRANSFER_SYNTAX] == ("Explicit VR Little Endian", True)


# what the ANS client simulator expects from a server holding JPEG-LS (ANS DRIM-M_DATA Simulateur client wadoRS)
ANS_EXPECTED = {
    "OK_Requete_CISIS_TSLossless.txt": JLL,  # q=0.9 is the highest
    "OK_Requete_CISIS_TSLossy.txt": JPEG,  # .50 and .51 at q=0.9; the server prefers .50 (listed first)
    "OK_QParameterMinMax.txt": JLS,  # .70 and .80 at q=1.0: the stored syntax wins the tie
    "OK_Series.txt": JLS,
}


@pytest.mark.parametrize("name", sorted(ANS_EXPECTED))
def test_ans_client_simulator_requests(name):
    path = ANS_WADO / name
    if not path.exists():
        pytest.skip(f"corpus missing: {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    accept = [line.partition(":")[2] for line in lines if line.lower().startswith("accept:")]
    ranges = parse_accept(accept)
    assert len(ranges) == 10
    offer = negotiate(ranges, dicom_offers([JLS, JLL, JPEG, "1.2.840.10008.1.2.4.51", ELE]))
    assert offer is not None and offer.transfer_syntax == ANS_EXPECTED[name]


ANS_TEST_A_BLANC = CORPUS / "drim-m-data" / "test a blanc"
# OK_Instances_v2 sends "Accept: transfer-syntax=...;q=0.9" with no media type at all: not an Accept
# value under RFC 9110 §12.5.1, so it is refused (400), although the ANS file name says OK.
NOT_AN_ACCEPT = {"Request-validation-instance/OK_Instances_v2.txt"}


def _ans_requests() -> list[Path]:
    return sorted([*ANS_WADO.glob("*.txt"), *(ANS_TEST_A_BLANC / "Validateur de requête-réponses").glob("*/*.txt")])


@pytest.mark.parametrize("path", _ans_requests() or [ANS_WADO], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_ans_wado_request_parses(path):
    if not path.is_file():
        pytest.skip(f"corpus missing: {path}")
    from harness.dicomweb.paths import parse_wado_path

    lines = path.read_text(encoding="utf-8").splitlines()
    url = lines[0].split()[1]
    assert parse_wado_path(url[url.index("/studies"):]).study
    accept = [line.partition(":")[2] for line in lines if line.lower().startswith("accept:")]
    if f"{path.parent.name}/{path.name}" in NOT_AN_ACCEPT:
        with pytest.raises(AcceptError, match="not a media type"):
            parse_accept(accept)
        return
    ranges = parse_accept(accept)
    assert len(ranges) == 10 and all(r.related_type == "application/dicom" for r in ranges)
    assert negotiate(ranges, dicom_offers([JLS, ELE])) is not None
