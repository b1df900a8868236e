"""`drimcheck profile init` / `check`: templates that load, then every problem of a profile named once."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.profile_cmd import placeholders_left, template
from harness.sut import PLAN_NEEDS, PLAN_OPTIONAL, load_profile

ACTORS = ("source", "consumer", "dmp", "content")
COMMENTED_FIELD = re.compile(r"^(\s*)# ([a-z_]+: .+)$", re.MULTILINE)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def uncomment(text: str) -> str:
    """Uncomment the optional `# key: value` lines of a template, as a vendor does."""
    return COMMENTED_FIELD.sub(lambda m: f"{m[1]}{m[2]}", text)


def create_named_paths(data: dict, folder: Path) -> None:
    """Create each file a profile names, so its paths resolve."""
    named = [v for section in ("credentials", "tls", "options") for k, v in (data.get(section) or {}).items()
             if isinstance(v, str) and k not in ("psc_client_id", "psc_client_secret", "profile")]
    named += [f for f in ((data.get("credentials") or {}).get("structures") or {}).values()]  # FINESS -> PEM
    named += data.get("files") or []
    named += [f for group in (data.get("options") or {}).get("groups") or [] for f in group]
    for name in named:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")


def fill(text: str, port: int) -> str:
    """Replace the placeholders with the address of a listening socket, pin each peer port."""
    text = text.replace("https://change-me.invalid", f"http://127.0.0.1:{port}")
    text = re.sub(r"change-me\.invalid:\d+", f"127.0.0.1:{port}", text)
    text = text.replace("change-me.invalid", "127.0.0.1").replace("port: 11112", f"port: {port}")
    text = text.replace("drimbox.example.org", "127.0.0.1").replace("port: 11113", f"port: {port}")  # iocm example
    text = text.replace("CHANGE-ME", "ACME")
    ports = iter(range(18081, 18100))
    return re.sub(r"^(\s+)(\w+): 0\b", lambda m: f"{m[1]}{m[2]}: {next(ports)}", text, flags=re.MULTILINE)


@pytest.mark.parametrize("actor", ACTORS)
def test_template_loads_and_names_every_field_the_plan_reads(actor, tmp_path):
    text = template(actor)
    path = tmp_path / "p.yaml"
    path.write_text(text)
    profile = load_profile(str(path))
    for dotted, _why in PLAN_NEEDS[profile.actor] + PLAN_OPTIONAL[profile.actor]:
        assert re.search(rf"^\s*(# )?{dotted.rsplit('.', 1)[-1]}:", text, re.MULTILINE), dotted


@pytest.mark.parametrize("actor", ACTORS)
def test_init_then_check_round_trip(actor, tmp_path, capsys):
    path = tmp_path / "vendor" / "sut.yaml"
    code, out, _ = run(capsys, "profile", "init", "--actor", actor, "--out", str(path))
    assert code == 0 and "profile check" in out
    code, out, _ = run(capsys, "profile", "check", str(path), "--no-connect")
    assert code == 1
    assert "schema and paths: ok" in out and "placeholders left" in out and "is missing" in out
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        text = fill(uncomment(path.read_text()), listener.getsockname()[1])
        create_named_paths(yaml.safe_load(text), path.parent)
        path.write_text(text)
        code, out, _ = run(capsys, "profile", "check", str(path))
    assert code == 0, out
    assert "placeholders left from `profile init`: none" in out and out.rstrip().splitlines()[-1].startswith("ready")


def test_check_names_a_missing_field_with_why_and_example(tmp_path, capsys):
    path = tmp_path / "dmp.yaml"
    path.write_text("name: Acme DMP\nactor: dmp\nendpoints:\n  registry: http://127.0.0.1:1/registry\n")
    code, out, _ = run(capsys, "profile", "check", str(path), "--no-connect")
    assert code == 1
    assert ("  - endpoints.repository is missing: the dmp plan needs it because it sends ITI-41 submissions and "
            "ITI-43 retrievals there; for example endpoints.repository: https://dmp.example.org/repository") in out
    assert "credentials.vihf_key is missing" in out and "3 problem(s)" in out


def test_check_lists_every_schema_problem(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("actor: source_drimbox\ncolour: blue\nendpoints:\n  wado_rs: ftp://x\n"
                    "options:\n  dmp_port: 18081\ncredentials:\n  vihf_ca: nowhere.pem\n")
    code, out, _ = run(capsys, "profile", "check", str(path), "--no-connect")
    assert code == 1
    for line in ("  - colour: unknown field", "  - endpoints.wado_rs: 'ftp://x' is not an http:// or https:// URL",
                 "  - options.dmp_port: no longer read: use options.ports.dmp",
                 "  - credentials.vihf_ca: nowhere.pem does not exist"):
        assert line in out
    assert "endpoints.mllp is missing" in out  # what the plan needs is listed too, from what was valid


def test_check_tries_each_endpoint(tmp_path, capsys):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed = free.getsockname()[1]
    path = tmp_path / "dmp.yaml"
    path.write_text(f"actor: dmp\nendpoints:\n  registry: http://127.0.0.1:{closed}/registry\n")
    code, out, _ = run(capsys, "profile", "check", str(path), "--timeout", "1")
    assert code == 1
    assert f"  - endpoints.registry 127.0.0.1:{closed} does not accept a connection" in out


@pytest.mark.parametrize("body", [None, "actor: [unclosed\n", b"\xff\xfe"])
def test_check_unreadable_file_exits_2(tmp_path, capsys, body):
    path = tmp_path / "p.yaml"
    if isinstance(body, bytes):
        path.write_bytes(body)
    elif body is not None:
        path.write_text(body)
    code, out, err = run(capsys, "profile", "check", str(path))
    assert code == 2 and out == "" and err.startswith("drimcheck: error:")


def test_check_plan_of_another_actor_exits_2(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text("actor: content\n")
    code, _, err = run(capsys, "profile", "check", str(path), "--plan", "dmp")
    assert code == 2 and "plan that fits: content" in err


def test_init_prints_and_refuses_to_overwrite(tmp_path, capsys):
    code, out, _ = run(capsys, "profile", "init", "--actor", "dmp")
    assert code == 0 and out == template("dmp")
    path = tmp_path / "p.yaml"
    path.write_text("mine")
    code, _, err = run(capsys, "profile", "init", "--actor", "dmp", "--out", str(path))
    assert code == 2 and "--force" in err and path.read_text() == "mine"


def test_help_texts_show_examples(capsys):
    for argv in (["profile", "init", "--help"], ["profile", "check", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "examples:" in capsys.readouterr().out


def test_placeholders_left_names_the_field():
    data = {"endpoints": {"dicom": {"host": "change-me.invalid"}}, "files": ["a", "CHANGE-ME.dcm"]}
    assert [p.split(":", 1)[0] for p in placeholders_left(data)] == ["endpoints.dicom.host", "files[1]"]
