"""Read-only inspector: a patient's submission sets, documents, associations, the captured
messages that created them and the findings kept about those messages (VIHF in ``warn`` mode)
(``/inspect/patients/<id>`` as HTML, ``...?format=json`` or ``/inspect/patients/<id>.json`` as
JSON; ``/inspect/messages/<MessageID>`` for one message), for people debugging an integration."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template_string, request
from lxml import etree

from harness.capture import recorder
from harness.xds.query import entry_summary
from simulators.dmp.registry import Registry, with_status

_PAGE = """<!doctype html><meta charset="utf-8"><title>DMP simulator: {{ patient }}</title>
<h1>Patient {{ patient }}</h1>
{% for kind, label in [("ss", "Submission sets"), ("doc", "Documents"), ("folder", "Folders"),
                        ("assoc", "Associations")] %}
<h2>{{ label }} ({{ data[kind]|length }})</h2>
<table border="1" cellpadding="3"><tr><th>id</th><th>uniqueId / type</th><th>status</th><th>messages</th></tr>
{% for o in data[kind] %}<tr><td>{{ o.id }}</td><td>{{ o.uniqueId or o.associationType or "" }}</td>
<td>{{ o.status }}</td><td>{{ o.messages|join(", ") }}</td></tr>{% endfor %}</table>
{% endfor %}
<h2>Findings on the messages ({{ data.findings|length }})</h2>
<table border="1" cellpadding="3"><tr><th>message</th><th>action</th><th>severity</th><th>rule</th><th>location</th>
<th>message</th><th>expected</th><th>found</th></tr>
{% for f in data.findings %}<tr><td>{{ f.exchange }}</td><td>{{ f.action }}</td><td>{{ f.severity }}</td>
<td>{{ f.rule }}</td><td>{{ f.location }}</td><td>{{ f.message }}</td><td>{{ f.expected or "" }}</td>
<td>{{ f.found or "" }}</td></tr>{% endfor %}</table>"""


def patient_view(registry: Registry, patient: str) -> dict[str, list[dict[str, Any]]]:
    storage = registry.storage
    rows = storage.rows("patient_id = ?", (patient,))
    ids = [r.id for r in rows]
    marks = ", ".join("?" * len(ids))
    assocs = storage.rows(f"kind = 'assoc' AND (source IN ({marks}) OR target IN ({marks}))",
                          ids + ids) if ids else []
    links = storage.exchanges_of([r.id for r in rows + assocs])
    out: dict[str, list[dict[str, Any]]] = {"ss": [], "doc": [], "folder": [], "assoc": []}
    for row in rows + assocs:
        summary = entry_summary(with_status(row))
        summary["messages"] = [_exchange_ref(m) for m in links.get(row.id, [])]
        out[row.kind].append(summary)
    out["findings"] = _with_exchange(storage.findings("patient_id = ?", (patient,)))
    return out


def message_view(registry: Registry, message_id: str) -> dict[str, Any]:
    """One received message: its capture record, the objects it created and the findings kept about it."""
    storage = registry.storage
    objects = [r[0] for r in storage.query("SELECT obj_id FROM capture_links WHERE exchange_id = ?", (message_id,))]
    return {"message_id": message_id, "exchange": _exchange_ref(message_id), "objects": objects,
            "findings": _with_exchange(storage.findings("exchange_id = ?", (message_id,)))}


def _with_exchange(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    refs: dict[str, str] = {}
    for f in findings:
        key = f["exchange_id"]
        f["exchange"] = refs[key] if key in refs else refs.setdefault(key, _exchange_ref(key))
    return findings


def _exchange_ref(message_id: str) -> str:
    """The capture id of the exchange whose request carried ``message_id`` (or the MessageID)."""
    needle = message_id.encode()
    for ex in reversed(recorder().exchanges(actor="dmp-simulator")):
        if needle in ex.request_body.read(256 * 1024):
            return f"{ex.id} ({message_id})"
    return message_id


def inspector_blueprint(registry: Registry) -> Blueprint:
    bp = Blueprint("inspector", __name__, url_prefix="/inspect")

    @bp.get("/patients/<path:patient>")
    def patient(patient: str) -> Any:
        as_json = patient.endswith(".json") or request.args.get("format") == "json"
        patient = patient[:-5] if patient.endswith(".json") else patient
        data = patient_view(registry, patient)
        if as_json:
            return jsonify({"patient": patient, **data})
        return render_template_string(_PAGE, patient=patient, data=data)

    @bp.get("/messages/<path:message_id>")
    def message(message_id: str) -> Any:
        return jsonify(message_view(registry, message_id))

    @bp.get("/objects/<path:ident>")
    def obj(ident: str) -> Any:
        rows = registry.storage.rows_by_ids([ident])
        if not rows:
            return jsonify({"error": f"no object {ident}"}), 404
        return etree.tostring(with_status(rows[0]), pretty_print=True), 200, {"Content-Type": "application/xml"}

    @bp.get("/stats")
    def stats() -> Any:
        s = registry.storage
        return jsonify({kind: s.count(kind) for kind in ("doc", "ss", "folder", "assoc")}
                       | {"documents": s.document_count()})

    return bp
