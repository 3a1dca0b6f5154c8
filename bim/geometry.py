"""Turn an IFC model's geometry into one binary glTF (GLB): a triangle mesh per element.

Each element that could be a component (the outermost IfcElement of what it is part
of: a Tekla cast unit with its parts merged in) is one node named by its GlobalId,
with `extras` giving its IFC class, name and storey. Coordinates are metres, Y up as
glTF wants, moved so that the model's centre is at the origin (the offset is in the
document's `extras`, in IFC axes, Z up): single-precision floats keep millimetres
that way. Boolean cuts (holes and notches in a piece) are left out: they cost more
than half the time of a conversion and do not change what a progress view shows.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.element as element_util
import numpy as np

# Raised when the output changes: it is part of the key the GLB is kept under.
GEOMETRY_VERSION = 1
MEDIA_TYPE = "model/gltf-binary"
_GLB_MAGIC, _JSON_CHUNK, _BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942
_FLOAT, _UNSIGNED_SHORT, _UNSIGNED_INT = 5126, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


@dataclass
class _Element:
    global_id: str
    ifc_class: str
    name: str
    storey: str | None
    positions: list[np.ndarray] = field(default_factory=list)
    indices: list[np.ndarray] = field(default_factory=list)
    vertex_count: int = 0


def _outermost(product):
    """The outermost element a product is part of (itself when it is part of none)."""
    current, seen = product, set()
    while current.id() not in seen:
        seen.add(current.id())
        parent = next((rel.RelatingObject for rel in getattr(current, "Decomposes", ()) or ()
                       if rel.RelatingObject.is_a("IfcElement")), None)
        if parent is None:
            return current
        current = parent
    return current


def _storey_name(element) -> str | None:
    current = element
    for _ in range(32):  # an element aggregated into another is where its whole is
        container = element_util.get_container(current)
        if container is not None:
            if container.is_a("IfcBuildingStorey"):
                return ((container.Name or "").strip()
                        or (getattr(container, "LongName", None) or "").strip() or "Storey")
            return None
        parent = next((rel.RelatingObject for rel in getattr(current, "Decomposes", ()) or ()),
                      None)
        if parent is None:
            return None
        current = parent
    return None


def _settings() -> ifcopenshell.geom.settings:
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    settings.set("weld-vertices", True)
    settings.set("no-normals", True)  # the page shades flat, from the triangles
    settings.set("disable-boolean-result", True)
    return settings


def _shown(product) -> bool:
    return product.is_a("IfcElement") and not product.is_a("IfcFeatureElement") \
        and not product.is_a("IfcVirtualElement")


def convert(model: ifcopenshell.file,
            progress: Callable[[int], None] | None = None) -> bytes:
    """Return the model's elements as a GLB: one node and mesh per element, by GlobalId."""
    elements: dict[int, _Element] = {}
    # One process: on a shared machine two cost more time than they save (measured).
    iterator = ifcopenshell.geom.iterator(_settings(), model, 1)
    done = 0
    if iterator.initialize():
        while True:
            shape = iterator.get()
            product = model.by_id(shape.id)
            if _shown(product):
                _add(elements, product, shape.geometry)
            done += 1
            if progress is not None:
                progress(done)
            if not iterator.next():
                break
    return _glb([element for element in elements.values() if element.vertex_count],
                model.schema)


def _add(elements: dict[int, _Element], product, geometry) -> None:
    whole = _outermost(product)
    element = elements.get(whole.id())
    if element is None:
        element = elements[whole.id()] = _Element(
            global_id=whole.GlobalId, ifc_class=whole.is_a(),
            name=(whole.Name or "").strip()[:200], storey=_storey_name(whole))
    positions = np.asarray(geometry.verts, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(geometry.faces, dtype=np.int64)
    if not len(positions) or not len(faces):
        return
    element.positions.append(positions)
    element.indices.append(faces + element.vertex_count)
    element.vertex_count += len(positions)


def _padded(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % 4)


def _glb(elements: list[_Element], schema: str) -> bytes:
    """Write the elements as a GLB document (glTF 2.0, one buffer)."""
    if elements:
        every = np.concatenate([p for element in elements for p in element.positions])
        low, high = every.min(axis=0), every.max(axis=0)
        centre = (low + high) / 2
    else:
        centre = np.zeros(3)
    chunks: list[bytes] = []
    offset = 0
    views, accessors, meshes, nodes, storeys = [], [], [], [], {}

    def add_view(data: bytes, target: int) -> int:
        nonlocal offset
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data),
                      "target": target})
        padded = _padded(data, b"\0")
        chunks.append(padded)
        offset += len(padded)
        return len(views) - 1

    for element in elements:
        # IFC is Z up, glTF Y up: (x, y, z) -> (x, z, -y), about the model's centre.
        local = np.concatenate(element.positions) - centre
        positions = np.column_stack((local[:, 0], local[:, 2], -local[:, 1])).astype(np.float32)
        indices = np.concatenate(element.indices)
        small = element.vertex_count <= 0xFFFF
        indices = indices.astype(np.uint16 if small else np.uint32)
        accessors.append({"bufferView": add_view(positions.tobytes(), _ARRAY_BUFFER),
                          "componentType": _FLOAT, "count": len(positions), "type": "VEC3",
                          "min": positions.min(axis=0).tolist(),
                          "max": positions.max(axis=0).tolist()})
        accessors.append({"bufferView": add_view(indices.tobytes(), _ELEMENT_ARRAY_BUFFER),
                          "componentType": _UNSIGNED_SHORT if small else _UNSIGNED_INT,
                          "count": len(indices), "type": "SCALAR"})
        meshes.append({"name": element.global_id, "primitives": [
            {"attributes": {"POSITION": len(accessors) - 2}, "indices": len(accessors) - 1,
             "mode": 4}]})
        nodes.append({"name": element.global_id, "mesh": len(meshes) - 1, "extras": {
            "global_id": element.global_id, "ifc_class": element.ifc_class,
            "name": element.name, "storey": element.storey}})
        if element.storey is not None:
            height = float(np.concatenate(element.positions)[:, 2].min())
            storeys[element.storey] = min(height, storeys.get(element.storey, height))
    binary = b"".join(chunks)
    document = {
        "asset": {"version": "2.0", "generator": f"PrefabTrace bim.geometry {GEOMETRY_VERSION}"},
        "scene": 0, "scenes": [{"nodes": list(range(len(nodes)))}], "nodes": nodes,
        "meshes": meshes, "accessors": accessors, "bufferViews": views,
        "buffers": [{"byteLength": len(binary)}] if binary else [],
        "extras": {"schema": schema, "offset_m": [round(float(v), 4) for v in centre],
                   # Storeys bottom up, by the lowest point of what stands on them.
                   "storeys": sorted(storeys, key=lambda name: (storeys[name], name))},
    }
    if not binary:
        document.pop("bufferViews")
        document.pop("accessors")
    text = _padded(json.dumps(document, separators=(",", ":")).encode(), b" ")
    body = struct.pack("<II", len(text), _JSON_CHUNK) + text
    if binary:
        body += struct.pack("<II", len(binary), _BIN_CHUNK) + binary
    return struct.pack("<III", _GLB_MAGIC, 2, 12 + len(body)) + body


def read_glb(data: bytes) -> tuple[dict, bytes]:
    """Return a GLB's JSON document and its binary chunk (empty when it has none)."""
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != _GLB_MAGIC or version != 2 or length != len(data):
        raise ValueError("not a glTF 2.0 binary")
    size, kind = struct.unpack_from("<II", data, 12)
    if kind != _JSON_CHUNK:
        raise ValueError("the first chunk is not JSON")
    document = json.loads(data[20:20 + size])
    binary = b""
    if 20 + size < len(data):
        bin_size, bin_kind = struct.unpack_from("<II", data, 20 + size)
        if bin_kind != _BIN_CHUNK:
            raise ValueError("the second chunk is not binary")
        binary = data[28 + size:28 + size + bin_size]
    return document, binary


def mesh_positions(document: dict, binary: bytes, node: dict) -> np.ndarray:
    """Return a node's vertex positions (metres, Y up, about the model's centre)."""
    accessor = document["accessors"][document["meshes"][node["mesh"]]["primitives"][0][
        "attributes"]["POSITION"]]
    view = document["bufferViews"][accessor["bufferView"]]
    return np.frombuffer(binary, dtype=np.float32, count=accessor["count"] * 3,
                         offset=view["byteOffset"]).reshape(-1, 3)
