"""Projects and what they hold: buildings, storeys and component types."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from construction.models import OrganizationKind
from construction.schemas.base import Changeable, Rounded, pattern, ref, text


class OrganizationRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.Enum(OrganizationKind, by_value=True)
    region_code = fields.String()


class ProjectSchema(Changeable):
    id = fields.Integer(dump_only=True)
    code = text(40, required=True, min_length=1)
    name = text(200, required=True, min_length=1)
    region_code = fields.String(required=True, validate=pattern(r"[0-9]{2,12}"))
    address = text(300)
    latitude = Rounded(6, allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = Rounded(6, allow_none=True, validate=validate.Range(min=-180, max=180))
    participant_ids = fields.List(ref(), load_only=True, validate=validate.Length(max=50))
    participants = fields.Method("_participants", dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)

    def _participants(self, project):
        return [OrganizationRefSchema().dump(p.organization) for p in project.participants]


class BuildingSchema(Changeable):
    id = fields.Integer(dump_only=True)
    project_id = fields.Integer(dump_only=True)
    name = text(100, required=True, min_length=1)
    # Set by a model import: the IfcBuilding's GlobalId, for linking to the model and CIM.
    ifc_global_id = fields.String(dump_only=True, allow_none=True)


class StoreySchema(Changeable):
    id = fields.Integer(dump_only=True)
    building_id = fields.Integer(dump_only=True)
    name = text(100, required=True, min_length=1)
    elevation_m = Rounded(3, load_default=0.0, validate=validate.Range(min=-200, max=1000))
    # Set by a model import: the IfcBuildingStorey's GlobalId.
    ifc_global_id = fields.String(dump_only=True, allow_none=True)


class ComponentTypeSchema(Changeable):
    id = fields.Integer(dump_only=True)
    project_id = fields.Integer(dump_only=True)
    manufacturer_id = ref(allow_none=True)
    name = text(100, required=True, min_length=1)
    category = fields.String(required=True, validate=validate.OneOf(
        ["wall_panel", "slab", "beam", "column", "stair", "balcony", "module", "other"]))
    drawing = text(100)
    length_mm = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=100_000))
    width_mm = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=100_000))
    height_mm = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=100_000))
    weight_kg = Rounded(1, allow_none=True, validate=validate.Range(min=0, max=1_000_000))
    concrete_grade = fields.String(validate=pattern(r"(C[0-9]{2,3}(/[0-9]{2,3})?)?"))
    stripping_strength_mpa = Rounded(1, allow_none=True, validate=validate.Range(min=1, max=200),
                                     metadata={"description": "Demoulding needs its pour to "
                                                              "reach this (or the percentage)"})
    stripping_strength_percent = Rounded(1, allow_none=True,
                                         validate=validate.Range(min=1, max=150), metadata={
                                             "description": "Of the grade's characteristic "
                                                            "strength: 75 of C30 = 22.5 MPa"})
    delivery_strength_mpa = Rounded(1, allow_none=True, validate=validate.Range(min=1, max=200),
                                    metadata={"description": "Loading and departing need "
                                                             "its pour to reach this"})
    delivery_strength_percent = Rounded(1, allow_none=True,
                                        validate=validate.Range(min=1, max=150))
    checklist_stages = fields.Method("_stages", dump_only=True)

    def _stages(self, component_type):
        return component_type.checklist_stages.split()
