"""The API's marshmallow schemas, one module per resource.

- `base`: the shared fields and bases (bounded ids and times, patterns, text without NUL,
  JSON booleans and numbers, `PageArgs`, `Changeable`, `LocationSchema`, `problem_member`);
- `precompiled`: the capture path's faster dump (`PrecompiledSchema`, `precompiled_dump`);
- `openapi_rules`: rules across fields that the OpenAPI document states;
- `scans`: a scan, a batch, and the events and component states they answer;
- `projects`: organizations, projects, buildings, storeys and component types;
- `components`: components, their detail, list filters and import results;
- `models`: building model imports and conversions;
- `labels`: signing keys, labels, layouts, sheets and decoded photos;
- `alerts`: alerts and security events;
- `photos`: site photos, their checks and findings, storey progress;
- `production`: moulds, pours, strength results, checklists, inspections, gate overrides,
  a component's production;
- `loads`: loads, their scans and plans, deliveries and storey readiness.

The names the rest of the application imports are here too.
"""

from construction.schemas.alerts import (
    AlertCloseSchema,
    AlertPageSchema,
    AlertQueryArgs,
    AlertSchema,
    SecurityEventPageSchema,
)
from construction.schemas.base import (
    EARLIEST,
    LATEST,
    MAX_BIG_ID,
    JsonBoolean,
    PageArgs,
    Period,
    moment,
    pattern,
    problem_member,
    ref,
    text,
)
from construction.schemas.components import (
    ComponentDetailSchema,
    ComponentPageSchema,
    ComponentQueryArgs,
    ComponentSchema,
    ImportResultSchema,
)
from construction.schemas.labels import (
    DecodeResultSchema,
    LabelIssueSchema,
    LabelKeysSchema,
    LabelListSchema,
    LabelSchema,
    LayoutArgs,
    LedgerKeysSchema,
    LoadLabelArgs,
    SheetSchema,
)
from construction.schemas.loads import (
    DeliveriesArgs,
    DeliveriesSchema,
    DeliveryLoadSchema,
    LoadCreateSchema,
    LoadFieldsSchema,
    LoadItemsSchema,
    LoadPageSchema,
    LoadPlanResultSchema,
    LoadPlanSchema,
    LoadQueryArgs,
    LoadScanResultSchema,
    LoadScanSchema,
    LoadViewSchema,
    ReadinessCountsSchema,
    StoreyReadinessSchema,
)
from construction.schemas.models import (
    ModelConvertingSchema,
    ModelImportArgs,
    ModelListSchema,
    ModelSchema,
    ModelStatesSchema,
)
from construction.schemas.openapi_rules import OPENAPI_RULES
from construction.schemas.photos import (
    CacheKeyArgs,
    FindingDecisionSchema,
    FindingSchema,
    ImageSizeArgs,
    PhotoPageSchema,
    PhotoQueryArgs,
    PhotoSchema,
    PhotoUploadResultSchema,
    PhotoUploadSchema,
    StoreyProgressSchema,
)
from construction.schemas.precompiled import PrecompiledSchema, precompiled_dump
from construction.schemas.production import (
    ChecklistSchema,
    GateOverrideSchema,
    InspectionSchema,
    InspectionViewSchema,
    MouldSchema,
    NewPourSchema,
    PourPageSchema,
    PourQueryArgs,
    PourSchema,
    StrengthImportResultSchema,
    StrengthImportRowSchema,
    StrengthResultSchema,
)
from construction.schemas.projects import (
    BuildingSchema,
    ComponentTypeSchema,
    ProjectSchema,
    StoreySchema,
)
from construction.schemas.scans import (
    BatchResultSchema,
    BatchSchema,
    ComponentStatusSchema,
    EventSchema,
    ScanResultSchema,
    ScanSchema,
)

__all__ = [
    "AlertCloseSchema",
    "AlertPageSchema",
    "AlertQueryArgs",
    "AlertSchema",
    "BatchResultSchema",
    "BatchSchema",
    "BuildingSchema",
    "ChecklistSchema",
    "ComponentDetailSchema",
    "ComponentPageSchema",
    "ComponentQueryArgs",
    "ComponentSchema",
    "ComponentStatusSchema",
    "ComponentTypeSchema",
    "DecodeResultSchema",
    "DeliveriesArgs",
    "DeliveriesSchema",
    "DeliveryLoadSchema",
    "EARLIEST",
    "EventSchema",
    "FindingDecisionSchema",
    "FindingSchema",
    "GateOverrideSchema",
    "CacheKeyArgs",
    "ImageSizeArgs",
    "ImportResultSchema",
    "InspectionSchema",
    "InspectionViewSchema",
    "JsonBoolean",
    "LATEST",
    "LabelIssueSchema",
    "LabelKeysSchema",
    "LabelListSchema",
    "LabelSchema",
    "LayoutArgs",
    "LedgerKeysSchema",
    "LoadCreateSchema",
    "LoadFieldsSchema",
    "LoadItemsSchema",
    "LoadLabelArgs",
    "LoadPageSchema",
    "LoadPlanResultSchema",
    "LoadPlanSchema",
    "LoadQueryArgs",
    "LoadScanResultSchema",
    "LoadScanSchema",
    "LoadViewSchema",
    "MAX_BIG_ID",
    "ModelConvertingSchema",
    "ModelImportArgs",
    "ModelListSchema",
    "ModelSchema",
    "ModelStatesSchema",
    "MouldSchema",
    "NewPourSchema",
    "OPENAPI_RULES",
    "PageArgs",
    "Period",
    "PhotoPageSchema",
    "PhotoQueryArgs",
    "PhotoSchema",
    "PhotoUploadResultSchema",
    "PhotoUploadSchema",
    "PourPageSchema",
    "PourQueryArgs",
    "PourSchema",
    "PrecompiledSchema",
    "ProjectSchema",
    "ReadinessCountsSchema",
    "ScanResultSchema",
    "ScanSchema",
    "SecurityEventPageSchema",
    "SheetSchema",
    "StoreyProgressSchema",
    "StoreyReadinessSchema",
    "StoreySchema",
    "StrengthImportResultSchema",
    "StrengthImportRowSchema",
    "StrengthResultSchema",
    "moment",
    "pattern",
    "precompiled_dump",
    "problem_member",
    "ref",
    "text",
]
