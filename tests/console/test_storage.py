"""The console's storage on SQLite and PostgreSQL (``DRIMCHECK_PG_DSN``), its schema version, and the command's
account making (harness/console/storage.py, command.py)."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from harness.console.storage import SCHEMA_VERSION, Store, StoreError, database_url, meta


def _stores(tmp_path):
    yield "sqlite", database_url(None, tmp_path)
    dsn = os.environ.get("DRIMCHECK_PG_DSN")
    if dsn:
        yield "postgresql", database_url(dsn, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    urls = dict(_stores(tmp_path))
    if request.param not in urls:
        pytest.skip("DRIMCHECK_PG_DSN is not set (postgresql://drimcheck:drimcheck@127.0.0.1:5432/drimcheck)")
    url = urls[request.param]
    if request.param == "postgresql":  # a schema of its own: the database is shared
        schema = f"console_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(url)
        with engine.begin() as c:
            c.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
        made = Store(url)
        yield made
        made.close()
        engine = sa.create_engine(urls["postgresql"])
        with engine.begin() as c:
            c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
        return
    made = Store(url)
    yield made
    made.close()


def test_the_whole_record_of_a_campaign(store):
    assert store.schema_version() == SCHEMA_VERSION
    uid = store.add_user("acme", "hash", "vendor")
    pid = store.add_profile("Acme", "dmp", "name: Acme", uid)
    assert store.add_version(pid, "Acme 2", "dmp", "name: Acme 2", uid) == 2
    assert [v["version"] for v in store.versions(pid)] == [2, 1]
    cid = store.add_campaign(sut=f"profile:{pid}", plans=["dmp"], only=["DMP-SQ-FD"], user_id=uid, profile_id=pid,
                             profile_version=2)
    claimed = store.claim_next()
    assert claimed["id"] == cid and claimed["state"] == "running" and claimed["only"] == ["DMP-SQ-FD"]
    assert store.claim_next() is None
    store.add_event(cid, "progress", {"done": 1})
    assert store.set_state(cid, "finished", only_from=("running",), verdict="pass")
    assert not store.set_state(cid, "cancelled", only_from=("queued", "running"))
    kinds = [(e["kind"], e["data"]) for e in store.events_after(cid, 0)]
    assert kinds == [("state", {"state": "running"}), ("progress", {"done": 1}), ("state", {"state": "finished"})]
    store.add_signoff(cid, uid, "ok")
    assert store.signoffs(cid)[0]["by"] == "acme"
    store.add_token(uid, "ci", "a" * 64, "dck_abc")
    assert store.token_user("a" * 64)["name"] == "acme"
    with pytest.raises(ValueError, match="exists already"):
        store.add_user("acme", "hash", "vendor")


def test_a_newer_schema_is_refused(tmp_path):
    url = database_url(None, tmp_path)
    Store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(meta.update().values(value=str(SCHEMA_VERSION + 1)))
    engine.dispose()
    with pytest.raises(StoreError, match="newer than this drimcheck"):
        Store(url)


def test_the_command_knows_the_roles_of_the_store():
    from harness.console.command import ROLES
    from harness.console.storage import ROLES as STORE_ROLES

    assert ROLES == STORE_ROLES


def test_a_database_url_of_another_kind_is_refused(tmp_path):
    with pytest.raises(StoreError, match="postgresql://"):
        database_url("mysql://x", tmp_path)
    assert database_url("postgresql://u:p@h/db", tmp_path) == "postgresql+psycopg://u:p@h/db"


def test_adduser_and_the_first_admin(tmp_path, capsys):
    from harness.cli import main
    from harness.console.app import ConsoleConfig, open_store
    from harness.console.command import ensure_admin

    password = tmp_path / "pw"
    password.write_text("a long enough password\n")
    data = str(tmp_path / "data")
    assert main(["console", "adduser", "acme", "--role", "assessor", "--data", data,
                 "--password-file", str(password)]) == 0
    assert "account acme (assessor) created" in capsys.readouterr().out
    password.write_text("short\n")
    assert main(["console", "adduser", "bob", "--role", "vendor", "--data", data,
                 "--password-file", str(password)]) == 2
    store = open_store(ConsoleConfig(data=tmp_path / "fresh"))
    try:
        drawn = ensure_admin(store, None)
        assert drawn and store.user_by_name("admin")["role"] == "admin"
        assert ensure_admin(store, None) is None  # only on a console with no account
    finally:
        store.close()
