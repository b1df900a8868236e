"""Validate 1000 KOS manifests of 1300 references each (the ANS performance study size) and print KOS/s.

Target: >= 200 KOS/s on one core. The KOS bytes are built once (same shape as the good set:
one study, 1300 CT instances in 4 series, one IMAGE item per instance); each iteration parses the
bytes and runs every rule of profile dmp, as ``drimcheck validate`` does. ``--shape ans`` adds what the
ANS samples carry (KOS_OK: an Instance Number in each evidence item, a TEXT description item) and
``--implicit`` writes Implicit VR Little Endian (the DRIMbox PoC samples), ``--undefined`` gives every
sequence and item an undefined length (as dcm4che writes them). Not run by the test suite.

    python bench/bench_kos.py [--count 1000] [--references 1300] [--shape goodset|ans] [--implicit] [--undefined]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from fixtures.mutations.goodset import EXAMS, build_kos, dicom_bytes
from harness.findings import Severity
from harness.validators.kos import validate_kos


def make_kos(references: int, series: int = 4, shape: str = "goodset", implicit: bool = False,
             undefined: bool = False) -> bytes:
    exam = replace(EXAMS[0], key="bench", series=series, instances=references // series)
    ds = build_kos(exam)
    if shape == "ans":
        number = 0
        for study in ds.CurrentRequestedProcedureEvidenceSequence:
            for item in study.ReferencedSeriesSequence:
                for sop in item.ReferencedSOPSequence:
                    number += 1
                    sop.InstanceNumber = number
        text, code = Dataset(), Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "113012", "DCM", "Key Object Description"
        text.RelationshipType, text.ValueType, text.TextValue = "CONTAINS", "TEXT", "Examen complet"
        text.ConceptNameCodeSequence = Sequence([code])
        ds.ContentSequence.insert(0, text)
    return dicom_bytes(ds, implicit=implicit, undefined=undefined)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--references", type=int, default=1300)
    parser.add_argument("--shape", choices=("goodset", "ans"), default="goodset")
    parser.add_argument("--implicit", action="store_true", help="Implicit VR Little Endian")
    parser.add_argument("--undefined", action="store_true", help="undefined-length sequences and items")
    args = parser.parse_args(argv)
    data = make_kos(args.references, shape=args.shape, implicit=args.implicit, undefined=args.undefined)
    errors = [f for f in validate_kos(data) if f.severity is Severity.ERROR]
    assert not errors, errors[:3]
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.count):
        validate_kos(data)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"{args.count} KOS x {args.references} references ({len(data)} bytes each, {args.shape}"
          f"{', implicit VR' if args.implicit else ''}{', undefined lengths' if args.undefined else ''}): "
          f"{elapsed:.2f} s wall, {cpu:.2f} s CPU: "
          f"{args.count / elapsed:.0f} KOS/s wall, {args.count / cpu:.0f} KOS/s per CPU second "
          f"(target >= 200 KOS/s on one core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
