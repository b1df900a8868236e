"""Optional CDA checkers: the CI-SIS ``CDA_extended.xsd`` (lxml) and CI-SIS schematrons (saxonche).

Schematron pipeline, offline and without copying any third-party XSLT into the tree: lxml ships the
ISO schematron skeleton (``lxml.isoschematron``: include, abstract-pattern expansion, SVRL compiler,
XSLT 1). The CI-SIS schematrons declare ``queryBinding="xslt2"`` and use XPath 2 functions, so the
compiled stylesheet is run by Saxon (saxonche) rather than libxslt, with the optimizer off (Saxon-HE
12's loop lifter crashes the JVM on the skeleton's output) and in a child process so that a JVM
crash or hang becomes a finding, not a dead test run. Relative value-set paths (``let`` values such
as ``'../jeuxDeValeurs/JDV_X.xml'``) are made absolute against the schematron folder.

Public: :func:`validate_xsd`, :func:`find_schematron`, :func:`compile_schematron`, :func:`run_schematron`,
:func:`parse_svrl`. Findings: rule ``CDA-XSD-001`` (origin ``xsd``) and ``CDA-SCH-001`` (origin ``schematron``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from lxml import etree

from harness.findings import Finding, error, info, warning
from harness.xmlsafe import compile_xsd

SVRL = "http://purl.oclc.org/dsdl/svrl"
TIMEOUT_S = 120
_LITERAL_XML = re.compile(r"^'([^']+\.xml)'$")
_validating = threading.Lock()  # one compiled schema per path, and its error_log is per instance


@lru_cache(maxsize=4)
def _schema(path: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return compile_xsd(etree.parse(path, parser))


def validate_xsd(root: etree._Element, xsd: Path) -> list[Finding]:
    """Validate against an XSD given by path (e.g. CI-SIS CDA_extended.xsd, TestContenuCDA)."""
    schema = _schema(str(Path(xsd).resolve()))
    with _validating:
        if schema.validate(root):
            return []
        log = list(schema.error_log)[:50]
    return [error("CDA-XSD-001", e.path or f"line {e.line}", e.message, Path(xsd).name, "invalid", origin="xsd")
            for e in log]


def find_schematron(path: Path) -> Path:
    """A .sch file, or the CR-IMG schematron inside a folder."""
    path = Path(path)
    if path.is_file():
        return path
    found = sorted(path.glob("CI-SIS_IMG-CR-IMG_*.sch")) or sorted(path.glob("*.sch"))
    if not found:
        raise FileNotFoundError(f"no .sch file in {path}")
    return found[-1]


def compile_schematron(sch: Path) -> bytes:
    """ISO schematron -> SVRL-producing XSLT (lxml's bundled skeleton), value-set paths made absolute."""
    from lxml import isoschematron

    doc = etree.parse(str(sch), etree.XMLParser(no_network=True, resolve_entities=False))
    expanded = isoschematron.iso_abstract_expand(isoschematron.iso_dsdl_include(doc))
    root = expanded.getroot()
    root.set("queryBinding", "xslt")  # the skeleton refuses xslt2; Saxon evaluates the XPath 2 tests
    for let in root.iter("{http://purl.oclc.org/dsdl/schematron}let"):
        match = _LITERAL_XML.match(let.get("value", ""))
        if match:
            let.set("value", f"'{_resolve(sch.parent, match.group(1))}'")
    return etree.tostring(isoschematron.iso_svrl_for_xslt1(expanded))


def _resolve(base: Path, rel: str) -> str:
    for candidate in (base / rel, base / "include" / rel):
        if candidate.resolve().exists():
            return candidate.resolve().as_uri()
    return (base / rel).resolve().as_uri()


def run_schematron(root: etree._Element, sch: Path) -> list[Finding]:
    """Run a schematron on a CDA in a child process; failures of the tool are findings too."""
    try:
        xslt = compile_schematron(Path(sch))
    except (etree.LxmlError, OSError) as exc:
        return [warning("CDA-SCH-001", str(sch), f"schematron could not be compiled: {exc}", origin="schematron")]
    with tempfile.TemporaryDirectory() as tmp:
        xsl_path, xml_path = Path(tmp) / "sch.xsl", Path(tmp) / "doc.xml"
        xsl_path.write_bytes(xslt)
        xml_path.write_bytes(etree.tostring(root))
        try:
            proc = subprocess.run([sys.executable, "-m", "harness.validators.schematron", str(xsl_path),
                                   str(xml_path)], capture_output=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return [warning("CDA-SCH-001", str(sch), f"schematron run exceeded {TIMEOUT_S} s", origin="schematron")]
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return [warning("CDA-SCH-001", str(sch), f"schematron run failed: {tail[0][:300]}", origin="schematron")]
    return parse_svrl(proc.stdout)


def parse_svrl(data: bytes) -> list[Finding]:
    """SVRL -> findings: failed-assert is an error (role warning/info lowers it), successful-report info."""
    root = etree.fromstring(data, etree.XMLParser(no_network=True, resolve_entities=False))
    findings = []
    for node in root.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        text = " ".join("".join(node.itertext()).split())
        role = (node.get("role") or node.get("flag") or "").lower()
        loc = node.get("location") or "/"
        if node.tag.endswith("successful-report") or role in ("info", "information"):
            findings.append(info("CDA-SCH-001", loc, text, origin="schematron"))
        elif role in ("warning", "warn"):
            findings.append(warning("CDA-SCH-001", loc, text, node.get("test"), origin="schematron"))
        else:
            findings.append(error("CDA-SCH-001", loc, text, node.get("test"), "assertion failed",
                                  origin="schematron"))
    return findings


def _child_main(xsl_path: str, xml_path: str) -> int:
    """Child process: run the compiled schematron with Saxon, print SVRL on stdout."""
    from saxonche import PySaxonProcessor

    with PySaxonProcessor(license=False) as proc:
        proc.set_configuration_property("http://saxon.sf.net/feature/optimizationLevel", "0")
        executable = proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=xsl_path)
        out = executable.transform_to_string(xdm_node=proc.parse_xml(xml_file_name=xml_path))
    sys.stdout.write(out or "")
    return 0


if __name__ == "__main__":  # pragma: no cover - child process entry
    sys.exit(_child_main(sys.argv[1], sys.argv[2]))
