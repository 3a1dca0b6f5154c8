"""Build synthetic IFC models of precast pieces (for tests, the demo and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import ifcopenshell
import ifcopenshell.guid
import numpy as np

from bim.geometry import _Element, _glb


@dataclass(frozen=True)
class Piece:
    """One element to put in a synthetic model."""

    mark: str
    storey: int = 0
    ifc_class: str = "IfcElementAssembly"
    weight_kg: float | None = None
    casting: str | None = None  # e.g. INSITU: the model says it is cast in place
    global_id: str | None = None
    parts: int = 1  # for assemblies: beams aggregated into it


def build_model(pieces: list[Piece], schema: str = "IFC4", storeys: int = 1,
                storey_height_mm: float = 3000.0,
                project_global_id: str | None = None,
                geometry: bool = False) -> ifcopenshell.file:
    """Return a model in millimetres and kilograms: one building, its storeys and the pieces.

    Versions of one model keep their IfcProject's GlobalId (`project_global_id`). With
    `geometry`, each piece is a 3000 x 200 x 2800 mm panel (an assembly's parts are
    stacked in it), placed on a 4 m grid of 20 by 20 per storey.
    """
    model = ifcopenshell.file(schema=schema)
    new = model.create_entity
    organization = new("IfcOrganization", Name="PrefabTrace")
    application = new("IfcApplication", ApplicationDeveloper=organization, Version="1",
                      ApplicationFullName="PrefabTrace synthetic",
                      ApplicationIdentifier="prefabtrace")
    owner = new("IfcOwnerHistory", OwningUser=new(
        "IfcPersonAndOrganization", ThePerson=new("IfcPerson", FamilyName="Builder"),
        TheOrganization=organization), OwningApplication=application,
        ChangeAction="ADDED", CreationDate=0)
    units = new("IfcUnitAssignment", Units=[
        new("IfcSIUnit", UnitType="LENGTHUNIT", Prefix="MILLI", Name="METRE"),
        new("IfcSIUnit", UnitType="MASSUNIT", Prefix="KILO", Name="GRAM"),
        new("IfcSIUnit", UnitType="VOLUMEUNIT", Name="CUBIC_METRE")])
    context = new("IfcGeometricRepresentationContext", ContextType="Model",
                  CoordinateSpaceDimension=3, Precision=1e-5,
                  WorldCoordinateSystem=new("IfcAxis2Placement3D", Location=new(
                      "IfcCartesianPoint", Coordinates=(0.0, 0.0, 0.0))))

    def root(cls: str, **attributes):
        return new(cls, GlobalId=attributes.pop("GlobalId", None) or ifcopenshell.guid.new(),
                   OwnerHistory=owner, **attributes)

    project = root("IfcProject", GlobalId=project_global_id, Name="Synthetic", UnitsInContext=units,
                   RepresentationContexts=[context])
    site = root("IfcSite", Name="Site", CompositionType="ELEMENT")
    building = root("IfcBuilding", Name="B1", CompositionType="ELEMENT")
    levels = [root("IfcBuildingStorey", Name=f"F{index + 1}", CompositionType="ELEMENT",
                   Elevation=index * storey_height_mm) for index in range(storeys)]
    root("IfcRelAggregates", RelatingObject=project, RelatedObjects=[site])
    root("IfcRelAggregates", RelatingObject=site, RelatedObjects=[building])
    root("IfcRelAggregates", RelatingObject=building, RelatedObjects=levels)
    contained: dict[int, list] = {index: [] for index in range(storeys)}

    def point(*coordinates: float):
        return new("IfcCartesianPoint", Coordinates=tuple(float(c) for c in coordinates))

    def placed(index: int, storey: int) -> dict:
        if not geometry:
            return {}
        return {"ObjectPlacement": new("IfcLocalPlacement", RelativePlacement=new(
            "IfcAxis2Placement3D", Location=point(index % 20 * 4000.0, index // 20 % 20 * 4000.0,
                                                  storey * storey_height_mm)))}

    def panel(height_mm: float, base_mm: float) -> dict:
        if not geometry:
            return {}
        solid = new("IfcExtrudedAreaSolid", SweptArea=new(
            "IfcRectangleProfileDef", ProfileType="AREA", XDim=3000.0, YDim=200.0,
            Position=new("IfcAxis2Placement2D", Location=point(0.0, 0.0))),
            Position=new("IfcAxis2Placement3D", Location=point(0.0, 0.0, base_mm)),
            ExtrudedDirection=new("IfcDirection", DirectionRatios=(0.0, 0.0, 1.0)),
            Depth=height_mm)
        return {"Representation": new("IfcProductDefinitionShape", Representations=[new(
            "IfcShapeRepresentation", ContextOfItems=context, RepresentationIdentifier="Body",
            RepresentationType="SweptSolid", Items=[solid])])}

    for position, piece in enumerate(pieces):
        with_parts = piece.ifc_class == "IfcElementAssembly" and piece.parts
        element = root(piece.ifc_class, GlobalId=piece.global_id, Name=piece.mark.split("/")[0],
                       Tag=piece.mark, **placed(position, piece.storey),
                       **({} if with_parts else panel(2800.0, 0.0)))
        contained[piece.storey].append(element)
        values = [new("IfcPropertySingleValue", Name="Assembly/Cast unit Mark",
                      NominalValue=new("IfcLabel", piece.mark))]
        if piece.weight_kg is not None:
            values.append(new("IfcPropertySingleValue", Name="Assembly/Cast unit weight",
                              NominalValue=new("IfcMassMeasure", float(piece.weight_kg))))
        if piece.casting is not None:
            values.append(new("IfcPropertySingleValue", Name="CastingMethod",
                              NominalValue=new("IfcLabel", piece.casting)))
        root("IfcRelDefinesByProperties", RelatedObjects=[element],
             RelatingPropertyDefinition=root("IfcPropertySet", Name="Tekla Assembly",
                                             HasProperties=values))
        if with_parts:
            height = 2800.0 / piece.parts
            parts = [root("IfcBeam", Name="part", **placed(position, piece.storey),
                          **panel(height, index * height)) for index in range(piece.parts)]
            root("IfcRelAggregates", RelatingObject=element, RelatedObjects=parts)
    for index, elements in contained.items():
        if elements:
            root("IfcRelContainedInSpatialStructure", RelatingStructure=levels[index],
                 RelatedElements=elements)
    return model


def precast_pieces(count: int, storeys: int = 10) -> list[Piece]:
    """Return `count` cast units over the storeys, marks repeating as in a real plant's model."""
    return [Piece(mark=f"W/{index % 400 + 1}", storey=index % storeys,
                  weight_kg=1000.0 + index % 50 * 100,
                  global_id=ifcopenshell.guid.compress(f"{index + 1:032x}"))
            for index in range(count)]


_BOX_CORNERS = [(x, y, z) for x in (-1.5, 1.5) for y in (-0.1, 0.1) for z in (0.0, 2.8)]
_BOX_TRIANGLES = [(0, 2, 3), (0, 3, 1), (4, 5, 7), (4, 7, 6), (0, 1, 5), (0, 5, 4),
                  (2, 6, 7), (2, 7, 3), (0, 4, 6), (0, 6, 2), (1, 3, 7), (1, 7, 5)]


def panels_glb(pieces: list[Piece], storey_height_mm: float = 3000.0) -> bytes:
    """Return a GLB of the pieces as `build_model(..., geometry=True)` places their panels.

    Written directly, without IfcOpenShell: a model of tens of thousands of pieces is
    ready in seconds, where building and converting it takes minutes. Each piece is one
    node (named by its GlobalId, on storey `F{n}`), as `bim.geometry.convert` makes.
    """

    corners = np.array(_BOX_CORNERS)
    triangles = np.array(_BOX_TRIANGLES, dtype=np.int64).reshape(-1)
    elements = []
    for position, piece in enumerate(pieces):
        origin = np.array([position % 20 * 4.0, position // 20 % 20 * 4.0,
                           piece.storey * storey_height_mm / 1000])
        elements.append(_Element(global_id=piece.global_id, ifc_class=piece.ifc_class,
                                 name=piece.mark.split("/")[0], storey=f"F{piece.storey + 1}",
                                 positions=[corners + origin], indices=[triangles],
                                 vertex_count=len(corners)))
    return _glb(elements, "IFC4")
