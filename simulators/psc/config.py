"""Configuration, test professionals and OAuth clients of the Pro Santé Connect simulator.

Users and clients come from a YAML file (``users.yaml`` beside this module by default) so a
campaign can bring its own professionals without touching code. userinfo claims have the
shape PSC returns (Keycloak realm ``esante-wallet``): ``SubjectNameID`` (= "8" + RPPS, the
national id of the professional), ``SubjectRefPro.exercices[].activities[]``, given/family name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

DEFAULT_USERS = Path(__file__).resolve().parent / "users.yaml"
REALM_PATH = "/auth/realms/esante-wallet"  # PSC issuer path (ANS PoC configuration)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
TLS_CLIENT_AUTH = "tls_client_auth"  # RFC 8705 §2.1.2 (PKI mutual TLS)
AUTH_METHODS = ("", "client_secret_basic", "client_secret_post", TLS_CLIENT_AUTH)  # "" = any the client can use
_SUB_NAMESPACE = uuid.UUID("5b0b1f5e-3a7c-4d59-9c55-5d6b2a0c9a11")


class PscConfigError(ValueError):
    """The users file cannot be used; the message names the entry."""


@dataclass(frozen=True)
class User:
    """A test health professional (RPPS identified)."""

    rpps: str
    given_name: str
    family_name: str
    civilite: str = ""
    profession: str = "10"
    savoir_faire: str = ""
    structure: dict[str, str] = field(default_factory=dict)
    sub: str = ""

    @property
    def subject_name_id(self) -> str:
        """National id of the professional: "8" + RPPS (PSC ``SubjectNameID``, ``preferred_username``)."""
        return "8" + self.rpps

    @property
    def subject(self) -> str:
        return self.sub or f"f:{uuid.uuid5(_SUB_NAMESPACE, self.rpps)}:{self.subject_name_id}"

    def userinfo(self) -> dict[str, Any]:
        """PSC-like userinfo claims (shape of the PSC userinfo response)."""
        activity = {
            "codeModeExercice": "L", "codeSecteurDactivite": "SA07", "codeGenreActivite": "GENR01",
            "identifiantTechniqueDeLaStructure": self.structure.get("id", ""),
            "raisonSocialeSite": self.structure.get("name", ""),
        }
        exercice = {
            "codeProfession": self.profession, "codeCategorieProfessionnelle": "C",
            "codeCiviliteDexercice": self.civilite, "nomDexercice": self.family_name,
            "prenomDexercice": self.given_name, "codeTypeSavoirFaire": "S" if self.savoir_faire else "",
            "codeSavoirFaire": self.savoir_faire, "activities": [activity],
        }
        return {
            "sub": self.subject, "preferred_username": self.subject_name_id,
            "SubjectNameID": self.subject_name_id, "given_name": self.given_name,
            "family_name": self.family_name, "codeCivilite": self.civilite,
            "SubjectOrganization": self.structure.get("name", ""),
            "SubjectOrganizationID": self.structure.get("id", ""),
            "SubjectRole": [f"{self.profession}^1.2.250.1.213.1.1.5.5"],
            "SubjectRefPro": {"codeCivilite": self.civilite, "exercices": [exercice]},
            "otherIds": [{"identifiant": self.subject_name_id, "origine": "RPPS", "qualite": 1}],
        }


@dataclass(frozen=True)
class Client:
    """A relying party (a DRIMbox, the harness) with its secret and redirect URIs.

    ``tls_client_subject`` (RFC 4514 DN) lets the client authenticate by its certificate (RFC 8705 §2.1.2);
    ``token_endpoint_auth_method`` (RFC 7591 §2) ``tls_client_auth``, or a subject with no secret, makes
    the certificate its only way (:attr:`tls_only`): a secret it presents is refused."""

    client_id: str
    client_secret: str = ""
    redirect_uris: tuple[str, ...] = ()
    scope: str = "openid scope_all"
    require_pkce: bool = True
    tls_client_subject: str = ""  # RFC 4514 DN: enables tls_client_auth (RFC 8705 §2.1.2)
    token_endpoint_auth_method: str = ""  # "" = a secret, or the certificate when a subject is registered

    @property
    def tls_only(self) -> bool:
        """Registered for ``tls_client_auth`` alone (RFC 8705 §2.1): no secret is accepted from it."""
        return bool(self.tls_client_subject) and (self.token_endpoint_auth_method == TLS_CLIENT_AUTH
                                                  or not self.client_secret)

    def redirect_allowed(self, uri: str) -> bool:
        """Exact match, or any port on a loopback host (RFC 8252 §7.3)."""
        if uri in self.redirect_uris:
            return True
        got = urlsplit(uri)
        if got.hostname not in LOOPBACK_HOSTS:
            return False
        for registered in self.redirect_uris:
            reg = urlsplit(registered)
            if (reg.scheme, reg.hostname, reg.path) == (got.scheme, got.hostname, got.path) and not got.query:
                return True
        return False


@dataclass
class PscConfig:
    """What a PSC simulator instance needs; every field has a usable default."""

    users_file: Path = DEFAULT_USERS
    token_ttl: int = 3600  # seconds an access token stays active
    code_ttl: int = 60  # seconds an authorization code stays usable
    refresh_ttl: int = 1800
    issuer: str = ""  # set from the listening address when empty
    realm_path: str = REALM_PATH
    tls_cert: str | None = None  # PEM files: HTTPS when set
    tls_key: str | None = None
    client_ca: str | None = None  # PEM CA bundle: ask clients for a certificate (mutual TLS)
    client_cert: str = "optional"  # none | optional | required, when client_ca is set
    misbehaviour: str | None = None  # a name of simulators.psc.misbehaviours.MISBEHAVIOURS
    users: list[User] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    # client_id -> RFC 4514 subject DN of its certificate: that client authenticates by tls_client_auth only
    # (RFC 8705 §2.1.2), applied to the clients at load(), the users file untouched
    client_subjects: dict[str, str] = field(default_factory=dict)

    def load(self) -> PscConfig:
        """Read users and clients from ``users_file`` unless given directly, then register
        ``client_subjects``; idempotent."""
        if not self.users and not self.clients:
            self.users, self.clients = load_users(Path(self.users_file))
        if self.client_subjects:
            self.clients = with_client_subjects(self.clients, self.client_subjects)
        return self


def with_client_subjects(clients: list[Client], subjects: dict[str, str]) -> list[Client]:
    """``clients`` with each of ``subjects`` (client_id -> DN) registered for ``tls_client_auth`` only
    (RFC 8705 §2.1.2); PscConfigError naming an unknown client or an empty DN."""
    known = {c.client_id for c in clients}
    unknown = sorted(set(subjects) - known)
    if unknown:
        raise PscConfigError(f"client_subjects: unknown client {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
    empty = sorted(cid for cid, dn in subjects.items() if not str(dn).strip())
    if empty:
        raise PscConfigError(f"client_subjects: empty subject DN for {', '.join(empty)}")
    return [replace(c, tls_client_subject=str(subjects[c.client_id]).strip(),
                    token_endpoint_auth_method=TLS_CLIENT_AUTH) if c.client_id in subjects else c
            for c in clients]


def load_users(path: Path) -> tuple[list[User], list[Client]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PscConfigError(f"{path}: cannot read users file: {exc}") from None
    if not isinstance(data, dict):
        raise PscConfigError(f"{path}: expected a mapping with 'users' and 'clients'")
    users = [_build(User, rec, path, "users", i) for i, rec in enumerate(data.get("users") or [])]
    clients = [_build(Client, {**rec, "redirect_uris": tuple(rec.get("redirect_uris", ()))}, path, "clients", i)
               for i, rec in enumerate(data.get("clients") or [])]
    for what, ids in (("rpps", [u.rpps for u in users]), ("client_id", [c.client_id for c in clients])):
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise PscConfigError(f"{path}: duplicate {what}: {', '.join(sorted(dup))}")
    return users, clients


def _build(cls: type, rec: Any, path: Path, section: str, index: int) -> Any:
    if not isinstance(rec, dict):
        raise PscConfigError(f"{path}: {section}[{index}] is not a mapping")
    try:
        obj = cls(**{k: str(v) if isinstance(v, int) and k in ("rpps", "profession") else v
                     for k, v in rec.items()})
    except TypeError as exc:
        raise PscConfigError(f"{path}: {section}[{index}]: {exc}") from None
    if cls is User and not (obj.rpps.isdigit() and len(obj.rpps) == 11):
        raise PscConfigError(f"{path}: users[{index}]: rpps must be 11 digits, got {obj.rpps!r}")
    if cls is Client:
        _check_client(obj, f"{path}: clients[{index}]")
    return obj


def _check_client(client: Client, where: str) -> None:
    """A client can authenticate somehow: a known method, a subject for tls_client_auth, a secret otherwise."""
    method = client.token_endpoint_auth_method
    if method not in AUTH_METHODS:
        raise PscConfigError(f"{where}: token_endpoint_auth_method must be one of "
                             f"{', '.join(m for m in AUTH_METHODS if m)}, got {method!r}")
    if method == TLS_CLIENT_AUTH and not client.tls_client_subject:
        raise PscConfigError(f"{where}: tls_client_auth needs tls_client_subject (RFC 8705 §2.1.2)")
    if not client.client_secret and not client.tls_client_subject:
        raise PscConfigError(f"{where}: no client_secret and no tls_client_subject: the client cannot authenticate")
