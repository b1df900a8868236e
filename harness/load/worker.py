"""A load process: ``python -m harness.load.worker local|master|worker ...``, Locust used as a library.

Kept out of the ``drimcheck`` process because Locust monkey-patches the standard library for gevent when
imported: the command, the simulators and the report builders never run patched.

- ``local``: one process, Locust's ``LocalRunner`` (greenlets); the spec comes on standard input.
- ``master``: Locust's ``MasterRunner`` bound to ``--bind-host``/``--port``; it sends the spec to each worker
  that says hello once its handlers are registered (custom messages ``drimcheck-hello``, ``drimcheck-spec``),
  waits until ``--expect-workers`` have answered ready,
  starts the users, and at the end asks each worker for its last figures (``drimcheck-finish``) before
  quitting them (Locust docs, "Distributed load generation", "Custom messages").
- ``worker``: Locust's ``WorkerRunner`` joining ``--master-host``/``--master-port``.

Figures travel as :class:`harness.load.stats.Recorder` data in each worker's periodic report
(``report_to_master``) and in its final answer; ``local`` and ``master`` write the merged figures, with the
run's start and end times, to ``--stats-out`` (written to a temporary name, then renamed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import locust  # noqa: F401  (before the project's modules: its import monkey-patches the standard library)
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.load import scenarios
from harness.load.spec import LoadSpec, SpecError
from harness.load.stats import Recorder

HELLO_MESSAGE, SPEC_MESSAGE, READY_MESSAGE = "drimcheck-hello", "drimcheck-spec", "drimcheck-ready"
FINISH_MESSAGE, FINAL_MESSAGE = "drimcheck-finish", "drimcheck-final"
REPORT_KEY = "drimcheck"
STOP_GRACE = 30.0  # seconds a user has, at the end, to finish the request it is reading (not cut mid-body)
log = logging.getLogger("drimcheck.load")


def _environment(user_classes: list[type], recorder: Recorder) -> Environment:
    """A Locust environment whose request events feed ``recorder`` (Locust docs, "Event hooks")."""
    env = Environment(user_classes=user_classes, stop_timeout=STOP_GRACE)

    def on_request(request_type: str, name: str, response_time: float, response_length: int,
                   exception: Exception | None = None, context: dict | None = None, **_: Any) -> None:
        error = (context or {}).get("error") if exception is not None else None
        if exception is not None and error is None:
            error = f"client: {type(exception).__name__}"
        recorder.add(name, time.time(), response_time, response_length or 0, error,
                     (context or {}).get("detail", "") or str(exception or ""))

    env.events.request.add_listener(on_request)
    scenarios.on_bytes = lambda nbytes: recorder.add_progress(time.time(), nbytes)
    return env


def _write_stats(path: Path, recorder: Recorder, started: float, ended: float, workers: int) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps({"started": started, "ended": ended, "workers": workers,
                               "recorder": recorder.to_dict()}), encoding="utf-8")
    os.replace(tmp, path)


def _read_spec() -> LoadSpec:
    return LoadSpec.from_json(sys.stdin.buffer.read())


def run_local(spec: LoadSpec, stats_out: Path) -> None:
    scenarios.SPEC = spec
    recorder = Recorder()
    env = _environment(scenarios.SCENARIOS[spec.scenario], recorder)
    runner = env.create_local_runner()
    started = time.time()
    runner.start(spec.users, spawn_rate=spec.spawn_rate)
    gevent.sleep(spec.duration)
    runner.stop()
    ended = time.time()
    runner.quit()
    _write_stats(stats_out, recorder, started, ended, 0)


def run_master(spec: LoadSpec, stats_out: Path, bind_host: str, port: int, expect: int,
               join_timeout: float) -> None:
    recorder = Recorder()
    env = _environment(scenarios.SCENARIOS[spec.scenario], recorder)
    runner = env.create_master_runner(master_bind_host=bind_host, master_bind_port=port)
    assert isinstance(runner, MasterRunner)
    ready: set[str] = set()
    finished: set[str] = set()
    payload = json.loads(spec.to_json())

    def on_hello(environment: Environment, msg: Any, **_: Any) -> None:
        runner.send_message(SPEC_MESSAGE, payload, msg.node_id)

    def on_ready(environment: Environment, msg: Any, **_: Any) -> None:
        ready.add(msg.node_id)

    def on_report(client_id: str, data: dict, **_: Any) -> None:
        if REPORT_KEY in data:
            recorder.merge(Recorder.from_dict(data[REPORT_KEY]))

    def on_final(environment: Environment, msg: Any, **_: Any) -> None:
        recorder.merge(Recorder.from_dict(msg.data))
        finished.add(msg.node_id)

    runner.register_message(HELLO_MESSAGE, on_hello)
    env.events.worker_report.add_listener(on_report)
    runner.register_message(READY_MESSAGE, on_ready)
    runner.register_message(FINAL_MESSAGE, on_final)
    print(f"master listening on {bind_host}:{port}, waiting for {expect} worker(s)", flush=True)
    deadline = time.monotonic() + join_timeout
    while len(ready) < expect:
        if time.monotonic() > deadline:
            runner.quit()
            raise SystemExit(f"only {len(ready)} of {expect} worker(s) joined the master on {bind_host}:{port} "
                             f"within {join_timeout:.0f} s: start them with drimcheck load worker --master-host "
                             f"{bind_host} --master-port {port}")
        gevent.sleep(0.1)
    started = time.time()
    runner.start(spec.users, spawn_rate=spec.spawn_rate)
    gevent.sleep(spec.duration)
    runner.stop(send_stop_to_client=False)
    for client_id in list(ready):
        runner.send_message(FINISH_MESSAGE, None, client_id)
    deadline = time.monotonic() + STOP_GRACE + 10
    while not ready <= finished and time.monotonic() < deadline:
        gevent.sleep(0.05)
    ended = time.time()
    runner.quit()
    if not ready <= finished:
        print(f"{len(ready - finished)} worker(s) sent no final figures: their last seconds are missing",
              file=sys.stderr, flush=True)
    _write_stats(stats_out, recorder, started, ended, len(ready))


def run_worker(master_host: str, master_port: int) -> None:
    recorder = Recorder()
    env = _environment(scenarios.ALL_USERS, recorder)
    runner = env.create_worker_runner(master_host, master_port)
    assert isinstance(runner, WorkerRunner)

    def on_spec(environment: Environment, msg: Any, **_: Any) -> None:
        try:
            scenarios.SPEC = LoadSpec.from_json(json.dumps(msg.data))
        except SpecError as exc:
            log.error("refused the master's load specification: %s", exc)
            return
        runner.send_message(READY_MESSAGE, None)

    def on_report(client_id: str, data: dict, **_: Any) -> None:
        data[REPORT_KEY] = recorder.drain()

    def on_finish(environment: Environment, msg: Any, **_: Any) -> None:
        runner.stop()
        runner.send_message(FINAL_MESSAGE, recorder.drain())

    runner.register_message(SPEC_MESSAGE, on_spec)
    runner.register_message(FINISH_MESSAGE, on_finish, concurrent=True)
    env.events.report_to_master.add_listener(on_report)
    runner.send_message(HELLO_MESSAGE, None)  # now that the handlers exist: the spec may come
    print(f"worker joined master {master_host}:{master_port}", flush=True)
    runner.greenlet.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.load.worker")
    sub = parser.add_subparsers(dest="mode", required=True)
    local = sub.add_parser("local")
    local.add_argument("--stats-out", type=Path, required=True)
    master = sub.add_parser("master")
    master.add_argument("--stats-out", type=Path, required=True)
    master.add_argument("--bind-host", default="127.0.0.1")
    master.add_argument("--port", type=int, required=True)
    master.add_argument("--expect-workers", type=int, required=True)
    master.add_argument("--join-timeout", type=float, default=120.0)
    worker = sub.add_parser("worker")
    worker.add_argument("--master-host", required=True)
    worker.add_argument("--master-port", type=int, default=5557)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.mode == "local":
            run_local(_read_spec(), args.stats_out)
        elif args.mode == "master":
            run_master(_read_spec(), args.stats_out, args.bind_host, args.port, args.expect_workers,
                       args.join_timeout)
        else:
            run_worker(args.master_host, args.master_port)
    except SpecError as exc:
        print(f"drimcheck load: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
