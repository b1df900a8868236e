"""An XDM package from outside is read in memory, never extracted, within limits: a declared size, a ratio, a
member count beyond them refuses the package unread (XDM-ZIP-001); a member path or link leaving the package is
not read (XDM-ZIP-002; PKWARE APPNOTE §4.4.17)."""

from __future__ import annotations

import os
import stat
import struct
import time
import zipfile

import pytest
from test_xdm_package import KOS, SUBSET, package, verdict, write_folder, write_zip

from harness.findings import Severity
from harness.validators import xdm
from harness.validators.command import main
from harness.validators.xdm import check_xdm, is_xdm_package


def _patch_central(data: bytes, name: str, *, size: int | None = None, flags: int | None = None) -> bytes:
    """``data`` with the central directory header of member ``name`` changed (APPNOTE §4.3.12): its declared
    uncompressed size (offset 24) or its general purpose flags (offset 8)."""
    out = bytearray(data)
    pos = out.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", out, pos + 28)[0]
        if out[pos + 46:pos + 46 + name_len] == name.encode():
            if size is not None:
                struct.pack_into("<I", out, pos + 24, size)
            if flags is not None:
                struct.pack_into("<H", out, pos + 8, flags)
            return bytes(out)
        pos = out.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(f"{name} not in the central directory")


def _refusal(checked):
    assert [f.rule for f in checked.findings] == ["XDM-ZIP-001"], checked.findings
    assert not next(s for s in checked.rule_sets if s.name.startswith("IHE XDM")).ran
    return checked.findings[0]


def test_a_huge_declared_member_is_refused_unread(tmp_path, capsys):
    path = write_zip(package(), tmp_path / "bomb.zip")
    path.write_bytes(_patch_central(path.read_bytes(), KOS, size=0xFFFFFFF0))  # ~4 GiB declared
    assert is_xdm_package(path)
    start = time.monotonic()
    found = _refusal(check_xdm(path, dciodvfy=False))
    assert time.monotonic() - start < 5
    assert found.location == KOS and found.found == str(0xFFFFFFF0)
    assert "refused unread" in found.message
    assert main([str(path), "--no-dciodvfy"]) == 1
    assert "[XDM-ZIP-001]" in capsys.readouterr().out


def test_a_compression_ratio_beyond_the_limit_is_refused(tmp_path):
    files = {**package(), f"{SUBSET}/ZEROS.BIN": bytes(2 << 20)}  # 2 MiB of zeros deflate to about 2 KiB
    found = _refusal(check_xdm(write_zip(files, tmp_path / "ratio.zip"), dciodvfy=False))
    assert found.location == f"{SUBSET}/ZEROS.BIN" and ":1" in found.expected


def test_too_many_members(tmp_path, monkeypatch):
    monkeypatch.setattr(xdm, "MAX_MEMBERS", 5)
    path = write_zip(package(), tmp_path / "many.zip")
    assert is_xdm_package(path)  # a .zip too long to list is taken as one, to be refused with its count
    found = _refusal(check_xdm(path, dciodvfy=False))
    assert found.found == str(len(package())) and found.expected == "<= 5"
    folder = _refusal(check_xdm(write_folder(package(), tmp_path / "many"), dciodvfy=False))
    assert folder.expected == "<= 5"


def test_more_declared_bytes_than_the_total_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(xdm, "MAX_TOTAL_BYTES", 10_000)
    found = _refusal(check_xdm(write_zip(package(), tmp_path / "total.zip"), dciodvfy=False))
    assert found.location == "(package)" and found.expected == "<= 10000 bytes"


def test_an_encrypted_member_is_refused(tmp_path):
    path = write_zip(package(), tmp_path / "enc.zip")
    path.write_bytes(_patch_central(path.read_bytes(), KOS, flags=0x1))
    assert "encrypted" in _refusal(check_xdm(path, dciodvfy=False)).message


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "IHE_XDM/../../evil.txt", "C:/evil.txt",
                                  "IHE_XDM\\..\\evil.txt"])
def test_a_member_path_leaving_the_archive_is_not_read(tmp_path, name):
    path = write_zip(package(), tmp_path / "slip.zip")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(name, b"payload")
    errors, _warnings, checked = verdict(path)
    assert errors == {"XDM-ZIP-002"}
    found = next(f for f in checked.findings if f.rule == "XDM-ZIP-002")
    assert found.location == name and "APPNOTE" in found.expected
    assert not (tmp_path / "evil.txt").exists()


def test_a_symbolic_link_member_is_not_read(tmp_path):
    path = write_zip(package(), tmp_path / "link.zip")
    info = zipfile.ZipInfo(f"{SUBSET}/LINK.TXT")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(info, "/etc/passwd")
    errors, _warnings, checked = verdict(path)
    assert errors == {"XDM-ZIP-002"}
    assert "symbolic link" in next(f for f in checked.findings if f.rule == "XDM-ZIP-002").message


def test_a_folder_link_outside_or_dangling_is_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    root = write_folder(package(), tmp_path / "pkg")
    os.symlink(secret, root / SUBSET / "LINK.TXT")
    os.symlink(tmp_path / "nowhere", root / SUBSET / "DEAD.TXT")
    errors, _warnings, checked = verdict(root)
    assert errors == {"XDM-ZIP-002"}
    assert {f.location for f in checked.findings if f.rule == "XDM-ZIP-002"} == {f"{SUBSET}/LINK.TXT",
                                                                                  f"{SUBSET}/DEAD.TXT"}


def test_a_corrupt_member_is_an_error_not_a_crash(tmp_path):
    path = write_zip(package(), tmp_path / "crc.zip")
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(KOS)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 10] ^= 0xFF  # inside the KOS's deflated data: its CRC no longer matches
    path.write_bytes(bytes(data))
    checked = check_xdm(path, dciodvfy=False)
    errors = {f.rule for f in checked.findings if f.severity is Severity.ERROR}
    assert "XDM-ZIP-001" in errors
    assert any(f.location == KOS for f in checked.findings if f.rule == "XDM-ZIP-001")


def test_a_broken_zip_named_zip_is_refused_and_other_files_are_left_alone(tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    assert is_xdm_package(broken)
    assert "no end of central directory" in _refusal(check_xdm(broken, dciodvfy=False)).message
    not_zip = tmp_path / "notes.zip"
    not_zip.write_bytes(b"hello")
    assert not is_xdm_package(not_zip)  # not a ZIP: the kind detection says unknown, as before
