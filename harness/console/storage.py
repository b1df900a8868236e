"""The console's database: users, API tokens, SUT profiles and their versions, campaigns, their events, sign-offs.

SQLAlchemy Core (MIT) over SQLite by default (one file in the data folder, transactional) or PostgreSQL
(``postgresql://...``, through psycopg 3), the same storage choice as the DMP simulator. The schema is created
on start; ``meta.schema_version`` says which version it is, so a later release can migrate it (a database of a
newer version than this code knows is refused, never written to).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SCHEMA_VERSION = 1
ROLES = ("vendor", "assessor", "admin")
# queued -> running -> finished | failed | cancelled; running left by a stopped console -> interrupted
STATES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
TERMINAL = ("finished", "failed", "cancelled", "interrupted")

metadata = sa.MetaData()

meta = sa.Table("meta", metadata,
                sa.Column("key", sa.String(64), primary_key=True),
                sa.Column("value", sa.Text, nullable=False))

users = sa.Table("users", metadata,
                 sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(64), nullable=False, unique=True),
                 sa.Column("password_hash", sa.Text, nullable=False),
                 sa.Column("role", sa.String(16), nullable=False),
                 sa.Column("created", sa.Float, nullable=False))

api_tokens = sa.Table("api_tokens", metadata,
                      sa.Column("id", sa.Integer, primary_key=True),
                      sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
                      sa.Column("name", sa.String(128), nullable=False),
                      sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # SHA-256 hex
                      sa.Column("prefix", sa.String(16), nullable=False),
                      sa.Column("created", sa.Float, nullable=False),
                      sa.Column("last_used", sa.Float),
                      sa.Column("revoked", sa.Boolean, nullable=False, default=False))

profiles = sa.Table("profiles", metadata,
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(200), nullable=False),
                    sa.Column("actor", sa.String(32), nullable=False),
                    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
                    sa.Column("created", sa.Float, nullable=False),
                    sa.Column("current_version", sa.Integer, nullable=False))

profile_versions = sa.Table("profile_versions", metadata,
                            sa.Column("id", sa.Integer, primary_key=True),
                            sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id"), nullable=False),
                            sa.Column("version", sa.Integer, nullable=False),
                            sa.Column("yaml", sa.Text, nullable=False),
                            sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
                            sa.Column("created", sa.Float, nullable=False),
                            sa.UniqueConstraint("profile_id", "version"))

campaigns = sa.Table("campaigns", metadata,
                     sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("state", sa.String(16), nullable=False),
                     sa.Column("sut", sa.Text, nullable=False),  # reference:... or profile:<id>
                     sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id")),
                     sa.Column("profile_version", sa.Integer),
                     sa.Column("plans", sa.Text, nullable=False),  # JSON list
                     sa.Column("only", sa.Text, nullable=False, default="[]"),  # JSON list (drimcheck run --only)
                     sa.Column("rerun_of", sa.Integer),
                     sa.Column("out_dir", sa.Text),
                     sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
                     sa.Column("created", sa.Float, nullable=False),
                     sa.Column("started", sa.Float),
                     sa.Column("finished", sa.Float),
                     sa.Column("pid", sa.Integer),
                     sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
                     sa.Column("exit_code", sa.Integer),
                     sa.Column("verdict", sa.String(16)),  # results.json summary.verdict; None when partial
                     sa.Column("partial", sa.Boolean, nullable=False, default=False),
                     sa.Column("done", sa.Integer, nullable=False, default=0),
                     sa.Column("total", sa.Integer, nullable=False, default=0),
                     sa.Column("error", sa.Text))

events = sa.Table("campaign_events", metadata,
                  sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                  sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False, index=True),
                  sa.Column("kind", sa.String(16), nullable=False),  # progress | state | log
                  sa.Column("data", sa.Text, nullable=False),  # JSON
                  sa.Column("created", sa.Float, nullable=False))

signoffs = sa.Table("signoffs", metadata,
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
                    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
                    sa.Column("comment", sa.Text, nullable=False),
                    sa.Column("created", sa.Float, nullable=False))


class StoreError(RuntimeError):
    """The database cannot be used (unreachable, or of a schema version this code does not know)."""


def database_url(db: str | None, data: Path) -> str:
    """``--db`` as SQLAlchemy takes it: a ``postgresql://`` URL goes through psycopg 3; default SQLite in ``data``."""
    if not db:
        return f"sqlite:///{(data / 'console.sqlite3').resolve()}"
    if db.startswith("postgresql://"):
        return "postgresql+psycopg://" + db.removeprefix("postgresql://")
    if db.startswith(("sqlite:///", "postgresql+psycopg://")):
        return db
    raise StoreError(f"--db {db!r}: give a postgresql://user:password@host/db URL or sqlite:///path")


class Store:
    """Every read and write of the console, each in its own transaction."""

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self._create()
        except sa.exc.OperationalError as exc:
            raise StoreError(f"database {self.engine.url.render_as_string(hide_password=True)} cannot be "
                             f"used: {exc.orig}") from None

    def _create(self) -> None:
        metadata.create_all(self.engine)
        with self.engine.begin() as c:
            row = c.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).first()
            if row is None:
                c.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(f"the database holds schema version {row[0]}, newer than this drimcheck "
                                 f"({SCHEMA_VERSION}): upgrade drimcheck")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as c:
            yield c

    def schema_version(self) -> int:
        with self.tx() as c:
            return int(c.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one())

    # -- users -----------------------------------------------------------------------------
    def add_user(self, name: str, password_hash: str, role: str) -> int:
        if role not in ROLES:
            raise ValueError(f"role {role!r}: choose {', '.join(ROLES)}")
        with self.tx() as c:
            if c.execute(sa.select(users.c.id).where(users.c.name == name)).first():
                raise ValueError(f"user {name!r} exists already")
            return int(c.execute(users.insert().values(name=name, password_hash=password_hash, role=role,
                                                       created=time.time())).inserted_primary_key[0])

    def set_password(self, name: str, password_hash: str) -> None:
        with self.tx() as c:
            c.execute(users.update().where(users.c.name == name).values(password_hash=password_hash))

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        return self._one(sa.select(users).where(users.c.name == name))

    def user(self, user_id: int) -> dict[str, Any] | None:
        return self._one(sa.select(users).where(users.c.id == user_id))

    def list_users(self) -> list[dict[str, Any]]:
        return self._all(sa.select(users.c.id, users.c.name, users.c.role, users.c.created).order_by(users.c.name))

    def user_count(self) -> int:
        with self.tx() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    # -- API tokens --------------------------------------------------------------------------
    def add_token(self, user_id: int, name: str, token_hash: str, prefix: str) -> int:
        with self.tx() as c:
            return int(c.execute(api_tokens.insert().values(user_id=user_id, name=name, token_hash=token_hash,
                                                            prefix=prefix, created=time.time(), revoked=False)
                                 ).inserted_primary_key[0])

    def token_user(self, token_hash: str) -> dict[str, Any] | None:
        """The user of a live token (its last use noted), None for an unknown or revoked one."""
        with self.tx() as c:
            row = c.execute(sa.select(users, api_tokens.c.id.label("token_id"))
                            .select_from(api_tokens.join(users, users.c.id == api_tokens.c.user_id))
                            .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked.is_(False))).first()
            if row is None:
                return None
            user = dict(row._mapping)
            c.execute(api_tokens.update().where(api_tokens.c.id == user["token_id"]).values(last_used=time.time()))
        return user

    def tokens_of(self, user_id: int) -> list[dict[str, Any]]:
        return self._all(sa.select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.prefix, api_tokens.c.created,
                                   api_tokens.c.last_used, api_tokens.c.revoked)
                         .where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id))

    def revoke_token(self, user_id: int, token_id: int) -> bool:
        with self.tx() as c:
            return c.execute(api_tokens.update().where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id)
                             .values(revoked=True)).rowcount == 1

    # -- profiles ----------------------------------------------------------------------------
    def add_profile(self, name: str, actor: str, text: str, user_id: int) -> int:
        now = time.time()
        with self.tx() as c:
            pid = int(c.execute(profiles.insert().values(name=name, actor=actor, created_by=user_id, created=now,
                                                         current_version=1)).inserted_primary_key[0])
            c.execute(profile_versions.insert().values(profile_id=pid, version=1, yaml=text, created_by=user_id,
                                                       created=now))
        return pid

    def add_version(self, profile_id: int, name: str, actor: str, text: str, user_id: int) -> int:
        with self.tx() as c:
            current = c.execute(sa.select(profiles.c.current_version).where(profiles.c.id == profile_id)
                                .with_for_update()).scalar_one()
            version = current + 1
            c.execute(profile_versions.insert().values(profile_id=profile_id, version=version, yaml=text,
                                                       created_by=user_id, created=time.time()))
            c.execute(profiles.update().where(profiles.c.id == profile_id)
                      .values(current_version=version, name=name, actor=actor))
        return version

    def profile(self, profile_id: int) -> dict[str, Any] | None:
        return self._one(sa.select(profiles).where(profiles.c.id == profile_id))

    def list_profiles(self) -> list[dict[str, Any]]:
        return self._all(sa.select(profiles).order_by(profiles.c.name, profiles.c.id))

    def versions(self, profile_id: int) -> list[dict[str, Any]]:
        return self._all(sa.select(profile_versions.c.version, profile_versions.c.created, users.c.name.label("by"))
                         .join(users, users.c.id == profile_versions.c.created_by)
                         .where(profile_versions.c.profile_id == profile_id)
                         .order_by(profile_versions.c.version.desc()))

    def version(self, profile_id: int, version: int) -> dict[str, Any] | None:
        return self._one(sa.select(profile_versions).where(profile_versions.c.profile_id == profile_id,
                                                           profile_versions.c.version == version))

    # -- campaigns ---------------------------------------------------------------------------
    def add_campaign(self, *, sut: str, plans: list[str], only: list[str], user_id: int,
                     profile_id: int | None = None, profile_version: int | None = None,
                     rerun_of: int | None = None) -> int:
        with self.tx() as c:
            return int(c.execute(campaigns.insert().values(
                state="queued", sut=sut, plans=json.dumps(plans), only=json.dumps(only), created_by=user_id,
                created=time.time(), profile_id=profile_id, profile_version=profile_version, rerun_of=rerun_of,
                cancel_requested=False, partial=False, done=0, total=0)).inserted_primary_key[0])

    def campaign(self, campaign_id: int) -> dict[str, Any] | None:
        row = self._one(sa.select(campaigns, users.c.name.label("by")).join(users, users.c.id == campaigns.c.created_by)
                        .where(campaigns.c.id == campaign_id))
        return _decode_campaign(row) if row else None

    def list_campaigns(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._all(sa.select(campaigns, users.c.name.label("by"))
                         .join(users, users.c.id == campaigns.c.created_by)
                         .order_by(campaigns.c.id.desc()).limit(limit))
        return [_decode_campaign(r) for r in rows]

    def claim_next(self) -> dict[str, Any] | None:
        """The oldest queued campaign, now marked running (a conditional update: one worker gets it)."""
        with self.tx() as c:
            row = c.execute(sa.select(campaigns.c.id).where(campaigns.c.state == "queued")
                            .order_by(campaigns.c.id).limit(1)).first()
            if row is None:
                return None
            done = c.execute(campaigns.update().where(campaigns.c.id == row[0], campaigns.c.state == "queued")
                             .values(state="running", started=time.time())).rowcount
            if done == 1:
                c.execute(events.insert().values(campaign_id=row[0], kind="state",
                                                 data=json.dumps({"state": "running"}), created=time.time()))
        return self.campaign(row[0]) if done == 1 else None

    def update_campaign(self, campaign_id: int, **values: Any) -> None:
        with self.tx() as c:
            c.execute(campaigns.update().where(campaigns.c.id == campaign_id).values(**values))

    def set_state(self, campaign_id: int, state: str, *, only_from: tuple[str, ...] = (), **values: Any) -> bool:
        """Move a campaign to ``state`` (from one of ``only_from`` when given); an event tells the watchers."""
        if state not in STATES:
            raise ValueError(state)
        with self.tx() as c:
            query = campaigns.update().where(campaigns.c.id == campaign_id)
            if only_from:
                query = query.where(campaigns.c.state.in_(only_from))
            changed = c.execute(query.values(state=state, **values)).rowcount == 1
            if changed:
                c.execute(events.insert().values(campaign_id=campaign_id, kind="state",
                                                 data=json.dumps({"state": state}), created=time.time()))
        return changed

    def running_campaigns(self) -> list[dict[str, Any]]:
        return [_decode_campaign(r) for r in self._all(sa.select(campaigns).where(campaigns.c.state == "running"))]

    def add_event(self, campaign_id: int, kind: str, data: dict[str, Any]) -> None:
        with self.tx() as c:
            c.execute(events.insert().values(campaign_id=campaign_id, kind=kind, data=json.dumps(data),
                                             created=time.time()))

    def events_after(self, campaign_id: int, after: int, kinds: tuple[str, ...] = ("progress", "state")
                     ) -> list[dict[str, Any]]:
        rows = self._all(sa.select(events).where(events.c.campaign_id == campaign_id, events.c.id > after,
                                                 events.c.kind.in_(kinds)).order_by(events.c.id))
        return [r | {"data": json.loads(r["data"])} for r in rows]

    # -- sign-off ----------------------------------------------------------------------------
    def add_signoff(self, campaign_id: int, user_id: int, comment: str) -> None:
        with self.tx() as c:
            c.execute(signoffs.insert().values(campaign_id=campaign_id, user_id=user_id, comment=comment,
                                               created=time.time()))

    def signoffs(self, campaign_id: int) -> list[dict[str, Any]]:
        return self._all(sa.select(signoffs.c.comment, signoffs.c.created, users.c.name.label("by"),
                                   users.c.role).join(users, users.c.id == signoffs.c.user_id)
                         .where(signoffs.c.campaign_id == campaign_id).order_by(signoffs.c.id))

    # -- plumbing ----------------------------------------------------------------------------
    def _one(self, query: sa.Select) -> dict[str, Any] | None:
        with self.tx() as c:
            row = c.execute(query).first()
        return dict(row._mapping) if row else None

    def _all(self, query: sa.Select) -> list[dict[str, Any]]:
        with self.tx() as c:
            return [dict(r._mapping) for r in c.execute(query)]


def _decode_campaign(row: dict[str, Any]) -> dict[str, Any]:
    return row | {"plans": json.loads(row["plans"]), "only": json.loads(row["only"] or "[]")}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL: the worker writes progress while pages read; foreign keys on (SQLite leaves them off)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
