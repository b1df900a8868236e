"""``drimcheck serve pacs``: options, endpoints, and the move destinations it is told about."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.dicom import Peer, echo
from simulators.pacs import serve


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    serve.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_serve_starts_with_options(tmp_path: Path) -> None:
    args = _args("--aet", "MYPACS", "--storage", str(tmp_path / "store"), "--move-destination",
                 "VIEWER=127.0.0.1:11112")
    service = serve.start(args)
    try:
        assert service.endpoints["aet"] == "MYPACS"
        assert service.endpoints["dicomweb"].startswith("http://127.0.0.1:")
        assert service.dimse.config.known_aes == {"VIEWER": ("127.0.0.1", 11112)}
        assert echo(Peer.of(service)) == 0
        assert (tmp_path / "store" / "index.sqlite").exists()
    finally:
        service.stop()


def test_default_aet_and_dimse_only() -> None:
    service = serve.start(_args("--no-dicomweb"))
    try:
        assert service.aet == "DRIMPACS" and "dicomweb" not in service.endpoints
    finally:
        service.stop()


@pytest.mark.parametrize("bad", ["VIEWER", "VIEWER=host", "=h:1", "V=h:port"])
def test_bad_move_destination_is_an_argument_error(bad: str) -> None:
    with pytest.raises(SystemExit):
        _args("--move-destination", bad)
