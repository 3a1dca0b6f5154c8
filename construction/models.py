"""Database models (SQLAlchemy 2.0 typed mappings)."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from construction.extensions import db

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every engine (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        return None if value is None else as_utc(value)


def as_utc(value: datetime) -> datetime:
    """Return a time read from the database in UTC (a naive one is UTC already)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class OrganizationKind(enum.StrEnum):
    manufacturer = "manufacturer"
    contractor = "contractor"
    supervisor = "supervisor"
    regulator = "regulator"
    owner = "owner"


class Role(enum.StrEnum):
    admin = "admin"
    project_manager = "project_manager"
    factory_worker = "factory_worker"
    qc_inspector = "qc_inspector"
    site_supervisor = "site_supervisor"
    regulator = "regulator"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=32, validate_strings=True,
                values_callable=lambda members: [m.value for m in members])


class Organization(db.Model):
    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OrganizationKind] = mapped_column(_enum(OrganizationKind, "organization_kind"))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Only for signing in to the web pages; the API takes tokens.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Raised on signing out: every page session opened before ends.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization] = relationship()


class SignInFailure(db.Model):
    """A wrong password: too many in a while, for a name from one address or from one
    address in all, pause signing in from there."""

    __tablename__ = "sign_in_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_name: Mapped[str] = mapped_column(String(200), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), default="", index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ApiToken(db.Model):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


# Tables whose rows the API can delete never hand a deleted id to a new row
# (SQLite would otherwise reuse the highest rowid).
NO_ID_REUSE = {"sqlite_autoincrement": True}


class Project(db.Model):
    __tablename__ = "project"
    __table_args__ = (NO_ID_REUSE,)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    longitude: Mapped[float | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    # Accepting a delivery then needs a passed site acceptance checklist.
    site_acceptance_required: Mapped[bool] = mapped_column(Boolean, default=False,
                                                           server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    buildings: Mapped[list[Building]] = relationship(
        back_populates="project", order_by="Building.id"
    )
    participants: Mapped[list[ProjectParticipant]] = relationship(back_populates="project")


class ProjectParticipant(db.Model):
    """An organization taking part in a project (maker, contractor, supervisor...)."""

    __tablename__ = "project_participant"
    __table_args__ = (UniqueConstraint("project_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)

    project: Mapped[Project] = relationship(back_populates="participants")
    organization: Mapped[Organization] = relationship()


class Building(db.Model):
    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("project_id", "name"),
                      UniqueConstraint("project_id", "ifc_global_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The IfcBuilding it was read from: a model's next version finds it again by this,
    # renamed or not. Empty for a building made by hand (until a model names it).
    ifc_global_id: Mapped[str | None] = mapped_column(String(22))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="buildings")
    storeys: Mapped[list[Storey]] = relationship(
        back_populates="building", order_by="Storey.elevation_m"
    )


class Storey(db.Model):
    __tablename__ = "storey"
    __table_args__ = (UniqueConstraint("building_id", "name"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The IfcBuildingStorey it was read from: found again by it, renamed, raised or moved.
    ifc_global_id: Mapped[str | None] = mapped_column(String(22))
    elevation_m: Mapped[float] = mapped_column(Numeric(9, 3, asdecimal=False), default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    building: Mapped[Building] = relationship(back_populates="storeys")


class ComponentType(db.Model):
    __tablename__ = "component_type"
    __table_args__ = (UniqueConstraint("project_id", "name"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    manufacturer_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(40))
    drawing: Mapped[str] = mapped_column(String(100), default="")
    length_mm: Mapped[int | None] = mapped_column(Integer)
    width_mm: Mapped[int | None] = mapped_column(Integer)
    height_mm: Mapped[int | None] = mapped_column(Integer)
    weight_kg: Mapped[float | None] = mapped_column(Numeric(10, 1, asdecimal=False))
    concrete_grade: Mapped[str] = mapped_column(String(20), default="")
    # The strengths the lifecycle's gates ask of a piece's pour: in MPa, or a
    # percentage of the grade's characteristic strength (75 % of C30 = 22.5 MPa).
    stripping_strength_mpa: Mapped[float | None] = mapped_column(Numeric(5, 1, asdecimal=False))
    stripping_strength_percent: Mapped[float | None] = mapped_column(
        Numeric(5, 1, asdecimal=False))
    delivery_strength_mpa: Mapped[float | None] = mapped_column(Numeric(5, 1, asdecimal=False))
    delivery_strength_percent: Mapped[float | None] = mapped_column(
        Numeric(5, 1, asdecimal=False))
    # The stages that have a checklist template (space-separated), kept by the
    # template service: a scan reads it with the lock, without another query.
    checklist_stages: Mapped[str] = mapped_column(String(80), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship()
    manufacturer: Mapped[Organization | None] = relationship()


# Components that cannot stall: waiting to be cast, or finished. The stalled report
# names these states in its query so that the partial index below matches it.
NOT_STALLABLE = ("planned", "accepted", "scrapped")
STALLABLE = "state NOT IN ({})".format(", ".join(f"'{state}'" for state in NOT_STALLABLE))


class Component(db.Model):
    """One physical piece; its state is kept here and derived from its events."""

    __tablename__ = "component"
    __table_args__ = (
        UniqueConstraint("gtin", "serial"),
        UniqueConstraint("project_id", "ifc_global_id"),
        CheckConstraint("(gtin IS NULL) = (serial IS NULL)", name="gtin_with_serial"),
        # The flags are rare and change rarely: a partial index per flag finds a
        # project's flagged pieces without reading the rest.
        *(Index(f"ix_component_{flag}", "project_id", "id", postgresql_where=text(flag),
                sqlite_where=text(f"{flag} = 1"))
          for flag in ("on_hold", "damaged", "ncr_open")),
        # The stalled report reads the oldest pieces still in progress from here, and
        # counts the recent ones (the rest it takes from the progress counters). The
        # price: a scan moves updated_at, so its update is no longer HOT (PostgreSQL
        # updates every index of the row). State counts come from the progress counters.
        Index("ix_component_stalled", "updated_at", postgresql_where=text(STALLABLE),
              sqlite_where=text(STALLABLE)),
        # Room is left in each page for the updates every scan makes.
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    component_type_id: Mapped[int] = mapped_column(ForeignKey("component_type.id"), index=True)
    storey_id: Mapped[int | None] = mapped_column(ForeignKey("storey.id"), index=True)
    mark: Mapped[str] = mapped_column(String(60), index=True)
    install_sequence: Mapped[int | None] = mapped_column(Integer)
    gtin: Mapped[str | None] = mapped_column(String(14))
    serial: Mapped[str | None] = mapped_column(String(20))
    ifc_global_id: Mapped[str | None] = mapped_column(String(22))
    pour_id: Mapped[int | None] = mapped_column(ForeignKey("pour.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="planned")
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    damaged: Mapped[bool] = mapped_column(Boolean, default=False)
    ncr_open: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # What the building model says of the piece (set by IFC imports).
    ifc_class: Mapped[str | None] = mapped_column(String(60))
    weight_kg: Mapped[float | None] = mapped_column(Numeric(10, 1, asdecimal=False))
    volume_m3: Mapped[float | None] = mapped_column(Numeric(12, 4, asdecimal=False))
    grid_code: Mapped[str | None] = mapped_column(String(40))
    # The model that first brought the piece in: re-imports of that model diff against it.
    bim_model_id: Mapped[int | None] = mapped_column(ForeignKey("bim_model.id"), index=True)
    # Gone from the latest import of its model; kept, with its history.
    removed_from_model: Mapped[bool] = mapped_column(Boolean, default=False,
                                                     server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship()
    component_type: Mapped[ComponentType] = relationship()
    storey: Mapped[Storey | None] = relationship()


class BimModel(db.Model):
    """An imported IFC model: the file (by content hash), its import job and the diff it made."""

    __tablename__ = "bim_model"
    __table_args__ = (Index("ix_bim_model_project_id_content_hash", "project_id",
                            "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed by (project_id, content_hash), whose first column it is.
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the uploaded file
    storage_key: Mapped[str] = mapped_column(String(120))
    original_name: Mapped[str] = mapped_column(String(200), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    schema: Mapped[str] = mapped_column(String(20), default="")
    authoring_application: Mapped[str] = mapped_column(String(200), default="")
    ifc_project_global_id: Mapped[str | None] = mapped_column(String(22))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    classes: Mapped[list | None] = mapped_column(JSON(none_as_null=True))  # None: the defaults
    status: Mapped[str] = mapped_column(String(20), default="pending")  # running, done, failed
    reason: Mapped[str] = mapped_column(Text, default="")
    added: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    skipped_reasons: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    storeys: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    differences: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    uploaded_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ComponentChange(db.Model):
    """A change an IFC import made to a component's plan: which fields, from what, to what."""

    __tablename__ = "component_change"
    __table_args__ = (Index("ix_component_change_component_id_id", "component_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by (component_id, id), whose first column it is.
    component_id: Mapped[int] = mapped_column(ForeignKey("component.id"))
    bim_model_id: Mapped[int] = mapped_column(ForeignKey("bim_model.id"), index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)  # field -> [before, after]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(db.Model):
    """An append-only lifecycle record: never updated, never deleted."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("user_id", "client_event_id"),
        Index("ix_event_component_id_id", "component_id", "id"),
        # The sealer finds what is not yet in the chain without scanning the rest.
        Index("ix_event_unsealed", "id", postgresql_where=text("sequence IS NULL"),
              sqlite_where=text("sequence IS NULL")),
        # NCRs are the rare qc_fail events: reports find them without reading the rest.
        Index("ix_event_qc_fail", "component_id", postgresql_where=text("action = 'qc_fail'"),
              sqlite_where=text("action = 'qc_fail'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("component.id"))
    action: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    # Indexed by the unique (user_id, client_event_id), whose first column it is.
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    device: Mapped[str | None] = mapped_column(String(100))
    client_event_id: Mapped[str] = mapped_column(String(64))
    client_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    client_utc_offset_minutes: Mapped[int | None] = mapped_column(Integer)
    server_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    corrects_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("event.id"), index=True, unique=True
    )
    # The tamper-evident chain, filled in by the sealer soon after the event is
    # written: its place in the ledger, the hash of its canonical content, and
    # the hash that links it to the event before.
    sequence: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    chain_hash: Mapped[str | None] = mapped_column(String(64))


class IdempotentRequest(db.Model):
    """The stored answer to a write sent with an Idempotency-Key."""

    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LabelKey(db.Model):
    """A published public key that label signatures (or ledger checkpoints) are checked against.

    Rows are never deleted: a retired key no longer signs, but labels it
    signed keep verifying. A revoked key (lost or stolen) verifies nothing any
    more: labels it signed are refused. `purpose` keeps the two apart: a label
    key never verifies a checkpoint made after ledger keys existed, nor a
    ledger key a label.
    """

    __tablename__ = "label_key"

    # 13 characters since ids grew; keys published before keep their 4.
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(10), default="label", server_default="label")
    algorithm: Mapped[str] = mapped_column(String(20), default="Ed25519")
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of the raw 32 bytes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")


class Label(db.Model):
    """One issued label version of a component; a reprint revokes the one before."""

    __tablename__ = "label"
    __table_args__ = (UniqueConstraint("component_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by the unique (component_id, version), whose first column it is.
    component_id: Mapped[int] = mapped_column(ForeignKey("component.id"))
    version: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(ForeignKey("label_key.key_id"), index=True)
    url: Mapped[str] = mapped_column(String(400))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    print_count: Mapped[int] = mapped_column(Integer, default=0)
    # The layout last printed tells the label's real size, which scales photos.
    last_layout: Mapped[str | None] = mapped_column(String(30))
    last_printed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), index=True)
    revoked_reason: Mapped[str] = mapped_column(String(200), default="")


class LabelSighting(db.Model):
    """A scan of a genuine label: who, when and where it was seen (for copy detection)."""

    __tablename__ = "label_sighting"
    __table_args__ = (Index("ix_label_sighting_label_id_id", "label_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("label.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    latitude: Mapped[float | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    longitude: Mapped[float | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    outcome: Mapped[str] = mapped_column(String(20))  # accepted | refused


class SecurityEvent(db.Model):
    """A refused label: forged, unknown key, not issued, or revoked."""

    __tablename__ = "security_event"
    __table_args__ = (UniqueConstraint("user_id", "client_event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)  # label-invalid | label-revoked
    reason: Mapped[str] = mapped_column(String(30))
    scanned_text: Mapped[str] = mapped_column(String(500))
    component_id: Mapped[int | None] = mapped_column(ForeignKey("component.id"), index=True)
    label_id: Mapped[int | None] = mapped_column(ForeignKey("label.id"), index=True)
    # Indexed by the unique (user_id, client_event_id), whose first column it is.
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    client_event_id: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Alert(db.Model):
    """A flag on a component for people to look at: a copied, forged or revoked label.

    While an alert is open, `open_key` (kind and component) is set and unique,
    so a repeat adds to its `occurrences` instead of opening another.
    """

    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|dismissed|confirmed
    open_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    component_id: Mapped[int | None] = mapped_column(ForeignKey("component.id"), index=True)
    label_id: Mapped[int | None] = mapped_column(ForeignKey("label.id"), index=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), index=True)
    close_note: Mapped[str] = mapped_column(String(500), default="")


class Photo(db.Model):
    """A site photo: the original stored once by content hash, its evidence, its checks.

    EXIF time and GPS are kept here as evidence; copies served to others carry
    no metadata.
    """

    __tablename__ = "photo"
    __table_args__ = (UniqueConstraint("project_id", "content_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by the unique (project_id, content_hash), whose first column it is.
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of the original
    media_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)  # upright, EXIF orientation applied
    height: Mapped[int] = mapped_column(Integer)
    display_key: Mapped[str] = mapped_column(String(100))  # metadata-free upright JPEG
    original_name: Mapped[str] = mapped_column(String(200), default="")
    uploaded_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    component_id: Mapped[int | None] = mapped_column(ForeignKey("component.id"), index=True)
    storey_id: Mapped[int | None] = mapped_column(ForeignKey("storey.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exif: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    latitude: Mapped[float | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    longitude: Mapped[float | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|failed


class PhotoCheck(db.Model):
    """One check of one photo: its version, state and stored result."""

    __tablename__ = "photo_check"
    __table_args__ = (UniqueConstraint("photo_id", "check"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by the unique (photo_id, check), whose first column it is.
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id"))
    check: Mapped[str] = mapped_column(String(20))
    version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|failed
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PhotoComponent(db.Model):
    """A component whose label a photo shows: how a photo proves where a component is."""

    __tablename__ = "photo_component"
    __table_args__ = (UniqueConstraint("photo_id", "component_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id"))
    component_id: Mapped[int] = mapped_column(ForeignKey("component.id"), index=True)
    label_id: Mapped[int | None] = mapped_column(ForeignKey("label.id"), index=True)
    genuine: Mapped[bool | None] = mapped_column(Boolean)
    points: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    pixels_per_module: Mapped[float | None] = mapped_column(Numeric(8, 2, asdecimal=False))


class Finding(db.Model):
    """Something a check found that a person must confirm or dismiss (never acted on alone)."""

    __tablename__ = "finding"
    __table_args__ = (UniqueConstraint("photo_id", "kind", "component_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by the unique (photo_id, kind, component_id), whose first column it is.
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id"))
    kind: Mapped[str] = mapped_column(String(30))  # crack | duplicate | evidence | quality
    component_id: Mapped[int | None] = mapped_column(ForeignKey("component.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|confirmed|dismissed
    outcome: Mapped[str] = mapped_column(String(20), default="")  # hold | ncr | none
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    decided_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerCheckpoint(db.Model):
    """A signed statement of the ledger's state: its length, head hash and a Merkle root.

    The Merkle root covers the content hashes of the events this checkpoint
    adds (after the previous checkpoint), so a proof for one event is a short
    path within one day's events.
    """

    __tablename__ = "ledger_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, unique=True)  # the last event covered
    first_sequence: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    merkle_root: Mapped[str] = mapped_column(String(64))
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_checkpoint.id"),
                                                    index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    key_id: Mapped[str] = mapped_column(ForeignKey("label_key.key_id"), index=True)
    statement: Mapped[str] = mapped_column(Text)  # the exact signed text
    signature: Mapped[str] = mapped_column(String(128))  # base64


class MerkleNode(db.Model):
    """A node of a checkpoint's Merkle tree, stored from the block level up as it is signed.

    Position p at level j is the root over the checkpoint's leaves p·2^j to
    (p+1)·2^j - 1: a proof reads one block of leaves (its events' content
    hashes) and one stored sibling per level above it, never the whole range.
    """

    __tablename__ = "merkle_node"

    # Derived from its checkpoint alone: gone with it.
    checkpoint_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_checkpoint.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))  # raw SHA-256


class ProgressCounter(db.Model):
    """Counts kept as events are written, so progress is read, never recounted.

    kind `state`: components per (project, storey, type, state) now, `pstate` the same
    per (project, type, state); kind `day`: transitions per (project, type, day, action),
    `pday` the same per (project, day, action), with no type, and `rday` per (region
    code, day, action), with no project.
    """

    __tablename__ = "progress_counter"
    __table_args__ = (Index("ix_progress_counter_kind_project_id_day", "kind", "project_id",
                            "day"),
                      Index("ix_progress_counter_kind_region_code_day", "kind", "region_code",
                            "day"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    storey_id: Mapped[int | None] = mapped_column(ForeignKey("storey.id"), index=True)
    component_type_id: Mapped[int | None] = mapped_column(ForeignKey("component_type.id"),
                                                          index=True)
    state: Mapped[str] = mapped_column(String(20))
    day: Mapped[date | None] = mapped_column(Date)
    region_code: Mapped[str | None] = mapped_column(String(12))
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookSubscription(db.Model):
    """Where to send events (of some actions, a project or a region), and how that went."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    actions: Mapped[list | None] = mapped_column(JSON(none_as_null=True))  # None: every action
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    after_sequence: Mapped[int] = mapped_column(BigInteger, default=0)  # ledger read cursor
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[str] = mapped_column(String(20), default="")
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    last_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    after_checkpoint: Mapped[int] = mapped_column(BigInteger, default=0)  # checkpoint cursor
    # The circuit breaker: open (nothing sent) until circuit_open_until after
    # WEBHOOK_BREAKER_FAILURES failures in a row; a success closes it.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    circuit_open_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A deliverer sends for this subscription until then (one attempt in flight at once).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def circuit(self) -> str:
        """Return the breaker's state: closed, open, or half-open (the next attempt probes)."""
        if self.circuit_open_until is None:
            return "closed"
        return "open" if self.circuit_open_until > utcnow() else "half-open"


class WebhookDelivery(db.Model):
    """One event or checkpoint to send to one subscription, retried with back-off until taken."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("subscription_id", "event_id"),
                      UniqueConstraint("subscription_id", "checkpoint_id"),
                      # A subscription's queue: its oldest pending delivery goes next.
                      Index("ix_webhook_delivery_queue", "subscription_id", "status", "id"),
                      Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
                      CheckConstraint("(event_id IS NULL) <> (checkpoint_id IS NULL)",
                                      name="event_or_checkpoint"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by the unique (subscription_id, event_id), whose first column it is.
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscription.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_checkpoint.id"),
                                                      index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditRecord(db.Model):
    """Who did what, when and from where: exports, accounts, labels, keys, projects, refusals.

    Ids are plain columns, not foreign keys: a record outlives what it names
    (a project may be deleted; its records stay).
    """

    __tablename__ = "audit_record"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    user_name: Mapped[str] = mapped_column(String(200), default="")
    organization_id: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(32), default="")
    action: Mapped[str] = mapped_column(String(40), index=True)
    project_id: Mapped[int | None] = mapped_column(Integer, index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    address: Mapped[str] = mapped_column(String(64), default="")  # "cli" for commands
    request_id: Mapped[str | None] = mapped_column(String(64))


# --- production records -------------------------------------------------------------------


class Mould(db.Model):
    """A mould or casting bed of one plant (a manufacturer's managed list)."""

    __tablename__ = "mould"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed by the unique (organization_id, name), whose first column it is.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(10), default="mould")  # mould | bed
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Pour(db.Model):
    """One casting on one mould or bed: the concrete, its curing and the specimens taken."""

    __tablename__ = "pour"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    manufacturer_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    mould_id: Mapped[int] = mapped_column(ForeignKey("mould.id"), index=True)
    cast_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    concrete_grade: Mapped[str] = mapped_column(String(20))
    mix: Mapped[str] = mapped_column(String(60), default="")
    supplier_ticket: Mapped[str] = mapped_column(String(60), default="")
    slump_mm: Mapped[int | None] = mapped_column(Integer)
    concrete_temperature_c: Mapped[float | None] = mapped_column(Numeric(4, 1, asdecimal=False))
    air_temperature_c: Mapped[float | None] = mapped_column(Numeric(4, 1, asdecimal=False))
    curing_method: Mapped[str] = mapped_column(String(10), default="ambient")  # ambient | steam
    # Steam curing: [{"hours": 0, "temperature_c": 20}, ...] from the start of curing.
    curing_profile: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    # [{"id": "S1", "size_mm": 150, "test_ages_days": [1, 7, 28]}, ...]
    specimens: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    mould: Mapped[Mould] = relationship()


class StrengthResult(db.Model):
    """A compressive strength test of one specimen group of a pour at one age."""

    __tablename__ = "strength_result"
    __table_args__ = (UniqueConstraint("pour_id", "specimen", "age_days"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by the unique (pour_id, specimen, age_days), whose first column it is.
    pour_id: Mapped[int] = mapped_column(ForeignKey("pour.id"))
    specimen: Mapped[str] = mapped_column(String(40))
    age_days: Mapped[int] = mapped_column(Integer)
    tested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    strength_mpa: Mapped[float] = mapped_column(Numeric(5, 1, asdecimal=False))
    load_kn: Mapped[float | None] = mapped_column(Numeric(8, 1, asdecimal=False))
    area_mm2: Mapped[float | None] = mapped_column(Numeric(9, 1, asdecimal=False))
    laboratory: Mapped[str] = mapped_column(String(100), default="")
    report_number: Mapped[str] = mapped_column(String(60), default="")
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChecklistTemplate(db.Model):
    """The checklist of one component type at one stage, item by item."""

    __tablename__ = "checklist_template"
    __table_args__ = (UniqueConstraint("component_type_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed by the unique (component_type_id, stage), whose first column it is.
    component_type_id: Mapped[int] = mapped_column(ForeignKey("component_type.id"))
    stage: Mapped[str] = mapped_column(String(20))
    # [{"key", "text_en", "text_zh", "kind", "category", "nominal", "tolerance", "unit"}]
    items: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Inspection(db.Model):
    """A filled checklist: who inspected which component at which stage, item by item."""

    __tablename__ = "inspection"
    __table_args__ = (Index("ix_inspection_component_stage", "component_id", "stage", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("component.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("checklist_template.id"), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    inspector_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    inspected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    passed: Mapped[bool] = mapped_column(Boolean)
    # The template's items as filled in: [{"key", "passed", "value", "note", "photo_ids"}]
    results: Mapped[list] = mapped_column(JSON)
    # The qc_fail event (the NCR) a failed item opened, when the lifecycle allowed one.
    ncr_event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GateOverride(db.Model):
    """A QC inspector's decision, with a reason, that a gate need not hold for a component."""

    __tablename__ = "gate_override"
    __table_args__ = (UniqueConstraint("component_id", "gate"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by the unique (component_id, gate), whose first column it is.
    component_id: Mapped[int] = mapped_column(ForeignKey("component.id"))
    gate: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(500))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Load(db.Model):
    """One truck trip: its vehicle, its components in loading order, its SSCC or load code."""

    __tablename__ = "load"
    __table_args__ = (NO_ID_REUSE,)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    # Always set: typed by hand, and the label's identity without a GS1 prefix.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    sscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    # open -> loaded -> in_transit -> arrived -> received | rejected
    state: Mapped[str] = mapped_column(String(20), default="open")
    vehicle: Mapped[str] = mapped_column(String(20), default="")
    driver: Mapped[str] = mapped_column(String(100), default="")
    trailer_type: Mapped[str] = mapped_column(String(40), default="")
    planned_departure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    planned_arrival_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(500), default="")
    # The truck's payload: adding a component beyond it is refused.
    max_weight_kg: Mapped[float | None] = mapped_column(Numeric(10, 1, asdecimal=False))
    label_version: Mapped[int] = mapped_column(Integer, default=1)
    # The URL issued for the current label version: a scanned label must be it, byte for byte.
    label_url: Mapped[str | None] = mapped_column(String(500))
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    loaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    departed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list[LoadItem]] = relationship(back_populates="load",
                                                 order_by="LoadItem.position")


class LoadItem(db.Model):
    """A component on a load, at its place in the loading order.

    `active_component_id` is the component while the load is not finished, and
    unique: a component rides on one load at a time.
    """

    __tablename__ = "load_item"
    __table_args__ = (UniqueConstraint("load_id", "component_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Indexed by the unique (load_id, component_id), whose first column it is.
    load_id: Mapped[int] = mapped_column(ForeignKey("load.id"))
    component_id: Mapped[int] = mapped_column(ForeignKey("component.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    active_component_id: Mapped[int | None] = mapped_column(ForeignKey("component.id"),
                                                            unique=True)

    load: Mapped[Load] = relationship(back_populates="items")


class LoadScan(db.Model):
    """One scan of a load's label that acted on all its components (one event each)."""

    __tablename__ = "load_scan"
    __table_args__ = (UniqueConstraint("user_id", "client_event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    load_id: Mapped[int] = mapped_column(ForeignKey("load.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    # Indexed by the unique (user_id, client_event_id), whose first column it is.
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    client_event_id: Mapped[str] = mapped_column(String(64))
    client_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    client_utc_offset_minutes: Mapped[int | None] = mapped_column(Integer)
    server_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # The components it moved, in loading order, and the exceptions of an acceptance.
    component_ids: Mapped[list] = mapped_column(JSON)
    exceptions: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
