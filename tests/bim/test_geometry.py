"""Model geometry as GLB: one node per element by GlobalId, parts merged, metres, Y up."""

from __future__ import annotations

import ifcopenshell
import numpy as np
import pytest

from bim.geometry import convert, mesh_positions, read_glb
from bim.synthetic import Piece, build_model, panels_glb, precast_pieces
from tests.bim.test_model import corpus_file


def _nodes(data: bytes) -> tuple[dict, bytes, dict[str, dict]]:
    document, binary = read_glb(data)
    return document, binary, {node["name"]: node for node in document["nodes"]}


def test_each_element_is_one_mesh_named_by_its_global_id():
    pieces = precast_pieces(5, storeys=2)
    pieces[0] = Piece(pieces[0].mark, storey=0, parts=3, global_id=pieces[0].global_id)
    pieces.append(Piece("S/1", storey=1, ifc_class="IfcSlab", global_id="1" + "S" * 21))
    model = build_model(pieces, schema="IFC2X3", storeys=2, geometry=True)
    document, binary, nodes = _nodes(convert(model))
    assert document["asset"]["version"] == "2.0"
    # Parts (the beams of an assembly) are merged into their assembly: no node of their own.
    assert set(nodes) == {piece.global_id for piece in pieces}
    assembly = nodes[pieces[0].global_id]
    assert assembly["extras"] == {"global_id": pieces[0].global_id,
                                  "ifc_class": "IfcElementAssembly", "name": "W",
                                  "storey": "F1"}
    assert nodes["1" + "S" * 21]["extras"]["storey"] == "F2"
    assert document["extras"]["storeys"] == ["F1", "F2"]
    for piece in pieces:
        positions = mesh_positions(document, binary, nodes[piece.global_id])
        size = positions.max(axis=0) - positions.min(axis=0)
        # A 3000 x 200 x 2800 mm panel; glTF is Y up, so its height is along Y.
        assert np.allclose(size, (3.0, 2.8, 0.2), atol=1e-4)
    three_parts = mesh_positions(document, binary, assembly)
    assert len(three_parts) == 3 * 8
    # Placed where the model says, about the model's centre (offset in IFC axes, Z up).
    offset = np.array(document["extras"]["offset_m"])
    second = mesh_positions(document, binary, nodes[pieces[1].global_id]).min(axis=0)
    assert np.allclose((second[0] + offset[0], -0.0 + offset[2] + second[1]),
                       (4.0 - 1.5, 3.0), atol=1e-4)


def test_a_model_without_geometry_is_an_empty_scene():
    document, binary, nodes = _nodes(convert(build_model(precast_pieces(3, storeys=1))))
    assert nodes == {} and binary == b"" and document["scenes"] == [{"nodes": []}]


def test_read_glb_refuses_other_files():
    with pytest.raises(ValueError):
        read_glb(b"ISO-10303-21;" + b"\0" * 20)


def test_a_corpus_model_converts_with_every_element_that_has_a_body():
    path = corpus_file("ifcopenhouse_ifc4.ifc")
    model = ifcopenshell.open(str(path))
    document, binary, nodes = _nodes(convert(model))
    wholes = set()
    for element in model.by_type("IfcElement"):
        if element.Representation is None or element.is_a("IfcFeatureElement"):
            continue
        while element.Decomposes:  # a roof's slabs, a stair's flights: the whole is shown
            element = element.Decomposes[0].RelatingObject
        wholes.add(element.GlobalId)
    assert set(nodes) == wholes
    for node in nodes.values():
        assert len(mesh_positions(document, binary, node)) >= 3
        assert node["extras"]["ifc_class"] == model.by_guid(node["name"]).is_a()


def test_panels_glb_draws_the_pieces_where_converting_the_model_does():
    pieces = precast_pieces(25, storeys=2)  # past one grid row, on both storeys
    written = _nodes(panels_glb(pieces))
    converted = _nodes(convert(build_model(pieces, schema="IFC4", storeys=2, geometry=True)))
    assert set(written[2]) == set(converted[2]) == {piece.global_id for piece in pieces}
    assert written[0]["extras"] == converted[0]["extras"]
    for global_id, node in converted[2].items():
        assert written[2][global_id]["extras"] == node["extras"]
        drawn = mesh_positions(*written[:2], written[2][global_id])
        expected = mesh_positions(*converted[:2], node)
        assert np.allclose(drawn.min(axis=0), expected.min(axis=0), atol=1e-4), global_id
        assert np.allclose(drawn.max(axis=0), expected.max(axis=0), atol=1e-4), global_id
