"""Benchmark of the DMP simulator (printed figures, never a test).

1. RAD-68 Provide and Register per second: DMP KOS submissions (KOS of 300 references + Signature01),
   MTOM, over HTTP on loopback, several clients, SQLite, with 1 and N server worker processes
   (``--workers 1,2``; messages built before the clock starts). Also the server's CPU time per PnR
   (utime + stime of the workers): the per-request cost, whatever the number of cores; and the clients'
   (this process), which share the same cores here: they are raw-socket HTTP/1.1 clients that send
   requests formatted in advance, as a load generator should be, and check every answer for Success.
   Target >= 300 PnR/s.
2. FindDocuments latency p50/p95 over HTTP with 10^5 (``--entries``) DocumentEntries loaded in the
   registry (10 per patient), SQLite (default) or PostgreSQL (``--db``). Target p95 <= 20 ms at 10^6.

    /work/venv/bin/python bench/bench_dmp.py [--pnr 2000] [--clients 4] [--workers 1,2] [--entries 100000]
        [--queries 500]
        [--profile dmp|xds] [--vihf off|enforce] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from harness.xds import build_pnr_message, kos_submission
from harness.xds.clients import XdsClient
from harness.xds.ebrim import documententry_to_extrinsic
from simulators.dmp import ebxml as E
from simulators.dmp import reference
from simulators.dmp.config import DmpConfig
from simulators.dmp.ebxml import APPROVED, index_extrinsic
from simulators.dmp.storage import Batch, StoredObject, open_storage
from simulators.dmp.workers import start_workers
from testplans.dmp.kos import make_kos

APPROVED_STATUS = [APPROVED]


def patient(i: int) -> str:
    return f"{100000000000000 + i}^^^&1.2.250.1.213.1.4.10&ISO^NH"


def pnr_messages(count: int, vihf_pki: object | None) -> list[tuple[str, bytes]]:
    """``count`` RAD-68 messages (distinct patients and uniqueIds), built before any clock starts."""
    kos, study = make_kos(references=300)
    provider = None
    if vihf_pki is not None:
        from testplans.dmp.conftest import vihf_provider

        provider = vihf_provider(vihf_pki.key_pem, vihf_pki.cert_pem)
    messages = []
    for i in range(count):
        pid = patient(10**9 + i)  # not among the patients of the FindDocuments load
        sub = kos_submission(kos, patient_id=pid, study_uid=study, accession=f"A{i}")
        extra = provider(pid) if provider else None
        messages.append(build_pnr_message(sub, mtom=True, header_extra=[extra] if extra is not None else []))
    return messages


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` (Linux /proc), the server's CPU whatever the client costs."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def post_all(url: str, messages: list[tuple[str, bytes]]) -> int:
    """POST each message on one keep-alive connection; returns the number of non-Success answers.

    A raw-socket HTTP/1.1 client, the load generator's share of the CPU kept small (the cores are
    shared with the server here): each request goes out in one ``sendall`` of a head formatted in
    advance, each answer is read by its Content-Length. http.client cost about 0.6 ms of CPU per
    PnR, most of it parsing response headers with the email package."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body for ctype, body in messages]
    failures = 0
    sock, pending = _connect(host, port), b""
    try:
        for request in requests:
            sock.sendall(request)
            while b"\r\n\r\n" not in pending:
                pending += _recv(sock)
            head, _, pending = pending.partition(b"\r\n\r\n")
            fields = dict(line.split(b":", 1) for line in head.lower().split(b"\r\n")[1:])
            length = int(fields[b"content-length"])
            while len(pending) < length:
                pending += _recv(sock)
            answer, pending = pending[:length], pending[length:]
            failures += not head.startswith(b"HTTP/1.1 200 ") or b"ResponseStatusType:Success" not in answer
            if fields.get(b"connection", b"").strip() == b"close":  # the server recycles connections
                sock.close()
                sock, pending = _connect(host, port), b""
    finally:
        sock.close()
    return failures


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _recv(sock: socket.socket) -> bytes:
    data = sock.recv(1 << 16)
    if not data:
        raise ConnectionError("server closed the connection before its answer ended")
    return data


def bench_pnr(config: DmpConfig, messages: list[tuple[str, bytes]], clients: int, workers: int) -> None:
    """PnR/s and server CPU ms per PnR with ``workers`` server processes on a fresh database."""
    with tempfile.TemporaryDirectory() as tmp:
        if config.db and config.db.startswith("postgres"):
            storage = open_storage(config.db)
            storage.reset()  # the same messages are sent again for each worker count
            storage.close()
        pool = start_workers(replace(config, workdir=Path(tmp)), workers)
        try:
            url = pool.endpoints["repository"]
            warm = messages[:workers * 2]  # each worker loads schemas and value sets once
            with ThreadPoolExecutor(workers * 2) as pool_warm:
                list(pool_warm.map(lambda m: post_all(url, [m]), warm))
            timed = messages[len(warm):]
            chunks = [timed[i::clients] for i in range(clients)]
            per0 = [cpu_seconds([pid]) for pid in pool.pids]
            cpu0, start, client0 = cpu_seconds(pool.pids), time.perf_counter(), time.process_time()
            with ThreadPoolExecutor(clients) as runners:
                failures = sum(runners.map(lambda chunk: post_all(url, chunk), chunks))
            elapsed, cpu = time.perf_counter() - start, cpu_seconds(pool.pids) - cpu0
            client = time.process_time() - client0
            shares = [cpu_seconds([pid]) - c0 for pid, c0 in zip(pool.pids, per0, strict=True)]
        finally:
            pool.stop()
    done = len(timed)
    print(f"RAD-68 PnR (KOS 300 refs + Signature01, MTOM): {done} in {elapsed:.2f} s = {done / elapsed:.0f} PnR/s "
          f"with {workers} worker(s), {clients} clients; server CPU {cpu * 1000 / done:.2f} ms/PnR, "
          f"client CPU {client * 1000 / done:.2f} ms/PnR "
          f"({failures} failures; CPU share of each worker: "
          f"{', '.join(f'{100 * c / max(cpu, 1e-9):.0f}%' for c in shares)})", flush=True)


def load_entries(ref: reference.Reference, entries: int, per_patient: int = 10) -> None:
    """Bulk-load DocumentEntries straight into storage: the KOS entry of kos_submission as a template,
    with a fresh entryUUID, uniqueId and patient substituted in its XML and index."""
    kos, study = make_kos(references=3)
    template = kos_submission(kos, patient_id=patient(0), study_uid=study, accession="A0").documents[0]
    template.id, template.uniqueId = "urn:uuid:ENTRY", "UNIQUE"
    elem = documententry_to_extrinsic(template)
    E.set_slot(elem, "repositoryUniqueId", [ref.config.repository_unique_id])
    xml = etree.tostring(elem).decode()
    base = index_extrinsic(elem)
    storage = ref.app.storage
    start = time.perf_counter()
    batch = Batch()
    for n in range(entries):
        ident, uid, pid = f"urn:uuid:{uuid.uuid4()}", f"2.25.{uuid.uuid4().int}", patient(n // per_patient)
        ind = replace(base, id=ident, lid=ident, unique_id=uid, patient_id=pid, multi=list(base.multi))
        text = xml.replace("urn:uuid:ENTRY", ident).replace("UNIQUE", uid).replace(template.patientId, pid)
        batch.objects.append(StoredObject(ind, APPROVED, text.encode()))
        if len(batch.objects) == 10000:
            storage.commit(batch)
            batch = Batch()
    if batch.objects:
        storage.commit(batch)
    print(f"loaded {entries} DocumentEntries ({entries // per_patient} patients) in "
          f"{time.perf_counter() - start:.1f} s")


def bench_find(ref: reference.Reference, entries: int, queries: int, per_patient: int = 10) -> None:
    client = XdsClient(ref.endpoints["registry"], ref.endpoints["repository"])
    patients = entries // per_patient
    times = []
    for q in range(queries):
        pid = patient((q * 7919) % patients)
        t0 = time.perf_counter()
        result = client.query("FindDocuments", {"$XDSDocumentEntryPatientId": pid,
                                                "$XDSDocumentEntryStatus": APPROVED_STATUS})
        times.append((time.perf_counter() - t0) * 1000)
        assert result.success and len(result.query.objects) == per_patient, result.errors
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"FindDocuments over HTTP with {entries} entries: p50 {statistics.median(times):.1f} ms, "
          f"p95 {p95:.1f} ms ({queries} queries, {per_patient} LeafClass entries each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pnr", type=int, default=2000, help="timed submissions per worker count (runs of a few "
                        "seconds: shorter ones swing with whatever else the machine runs)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", default="1,2", help="server worker processes to measure, comma-separated")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--profile", default="dmp", choices=("dmp", "xds"))
    parser.add_argument("--vihf", default="off", choices=("off", "enforce"))
    parser.add_argument("--db", default=None, help="sqlite:///PATH (default: a temporary file) or postgresql://...")
    args = parser.parse_args()
    import logging

    from harness.vihf import throwaway_pki

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    pki = throwaway_pki() if args.vihf == "enforce" else None
    with tempfile.TemporaryDirectory() as tmp:
        config = DmpConfig(workdir=Path(tmp), profile=args.profile, vihf=args.vihf, db=args.db,
                           trust_store=[pki.ca_pem] if pki else [])
        if args.pnr:
            counts = [int(n) for n in args.workers.split(",") if n.strip()]
            messages = pnr_messages(args.pnr + 2 * max(counts), pki)
            print(f"{len(messages)} messages of {len(messages[0][1])} bytes built; "
                  f"{os.cpu_count()} CPU(s) shared by server and clients", flush=True)
            for workers in counts:
                bench_pnr(config, messages, args.clients, workers)
        if args.entries:
            with reference.start(config, vihf_pki=pki) as ref:
                load_entries(ref, args.entries)
                bench_find(ref, args.entries, args.queries)


if __name__ == "__main__":
    main()
