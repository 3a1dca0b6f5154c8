"""Write the as-built state back onto a model: Pset_PrefabTrace on every tracked element.

Only new entities are added (one property set and one relation per element):
every original entity keeps its id and attributes, so the file is the same model
with the same GlobalIds, and a CIM platform that ingested it before matches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ifcopenshell
import ifcopenshell.guid

from bim.model import open_model, unpack

PSET_NAME = "Pset_PrefabTrace"
TRACE_PROPERTIES = ("Code", "LabelURL", "State", "OnHold", "NCROpen", "CastAt", "DeliveredAt",
                    "InstalledAt", "AcceptedAt", "LastEventAt")
_BOOLEANS = {"OnHold", "NCROpen"}


def write_as_built(name: str, data: bytes, states: Mapping[str, Mapping[str, Any]]) -> bytes:
    """Return the model (as .ifc text) with the trace properties of each GlobalId in `states`."""
    model = open_model(unpack(name, data))
    add_trace(model, states)
    return model.to_string().encode()


def add_trace(model: ifcopenshell.file, states: Mapping[str, Mapping[str, Any]]) -> int:
    """Add Pset_PrefabTrace to the model's elements named in `states`; return how many."""
    modern = model.schema != "IFC2X3"
    owner = next(iter(model.by_type("IfcOwnerHistory")), None)
    value_types = {name: "IfcLabel" for name in TRACE_PROPERTIES}
    value_types.update({name: "IfcBoolean" for name in _BOOLEANS})
    if modern:
        value_types["LabelURL"] = "IfcURIReference"
        value_types.update({name: "IfcDateTime" for name in TRACE_PROPERTIES[5:]})
    written = 0
    for global_id, values in states.items():
        try:
            element = model.by_guid(global_id)
        except RuntimeError:
            continue  # not in this model (another model of the project has it)
        properties = [model.create_entity(
            "IfcPropertySingleValue", Name=name,
            NominalValue=None if values.get(name) is None
            else model.create_entity(value_types[name], values[name]))
            for name in TRACE_PROPERTIES]
        pset = model.create_entity("IfcPropertySet", GlobalId=ifcopenshell.guid.new(),
                                   OwnerHistory=owner, Name=PSET_NAME,
                                   HasProperties=properties)
        model.create_entity("IfcRelDefinesByProperties", GlobalId=ifcopenshell.guid.new(),
                            OwnerHistory=owner, RelatedObjects=[element],
                            RelatingPropertyDefinition=pset)
        written += 1
    return written
