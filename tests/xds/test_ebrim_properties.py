"""Property test: any DocumentEntry/SubmissionSet text survives model -> ebRIM -> XML bytes -> model."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from xds_testdata import good_submission

from harness.xds.ebrim import parse_submit_objects, submission_to_ebrim

# XML 1.0 characters, trimmed (slot values are read stripped), and within ebRIM LongName length
text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
               min_size=1, max_size=60).map(str.strip).filter(bool)


@settings(max_examples=150, deadline=None)
@given(title=text, code=text, display=text, ref=st.lists(text, max_size=3), spi=st.lists(text, max_size=3),
       comments=text)
def test_round_trip_through_bytes(title, code, display, ref, spi, comments):
    sub = good_submission()
    kos = sub.document("DocumentKOS")
    kos.title, kos.comments, kos.referenceIdList, kos.sourcePatientInfo = title, comments, ref, spi
    kos.classCode = replace(kos.classCode, node=code, display=display)
    sub.submission_set.title = title
    raw = etree.tostring(submission_to_ebrim(sub), encoding="UTF-8")
    again = parse_submit_objects(etree.fromstring(raw))
    assert again.document("DocumentKOS") == kos and again.submission_set == sub.submission_set
