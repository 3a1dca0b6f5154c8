"""Rules across fields, stated in the OpenAPI document (JSON Schema 2020-12) so that
generated clients know them; the schemas of this package enforce them."""

from __future__ import annotations

from construction import lifecycle

OPENAPI_RULES = {
    "Scan": {"allOf": [
        {"if": {"properties": {"action": {"const": "correct"}}, "required": ["action"]},
         "then": {"required": ["corrects_event_id"],
                  "properties": {"corrects_event_id": {"type": "integer"}}},
         "else": {"properties": {"corrects_event_id": {"type": "null"}}}},
        {"if": {"properties": {"action": {"enum": [
            name for name, spec in lifecycle.ACTIONS.items() if spec.needs_record]}},
            "required": ["action"]},
         "then": {"required": ["data"], "properties": {"data": {
             "type": "object", "required": ["record"],
             "properties": {"record": {"type": "string",
                                     "pattern": "^[\\s\\S]*\\S[\\s\\S]*$"}}}}}},
    ]},
    "Location": {"dependentRequired": {"latitude": ["longitude"], "longitude": ["latitude"]}},
    "Sheet": {"anyOf": [{"required": ["component_ids"]}, {"required": ["project_id"]}]},
    "LoadPlan": {"oneOf": [{"required": ["storey_ids"]}, {"required": ["component_ids"]}]},
}
