"""Projects, buildings, storeys and component types."""

from __future__ import annotations

from flask.views import MethodView

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.idempotency import idempotent
from construction.permissions import requires
from construction.schemas import BuildingSchema, ComponentTypeSchema, ProjectSchema, StoreySchema
from construction.services import projects as service

blp = api_blueprint("projects", __name__, "Projects, buildings, storeys and component types.",
                    url_prefix="/api/v1")


@blp.route("/projects")
class Projects(MethodView):
    @requires("project.read")
    @blp.response(200, ProjectSchema(many=True))
    def get(self):
        """List the projects you may read."""
        return service.list_projects(authenticate_request())

    @requires("project.create")
    @idempotent
    @blp.arguments(ProjectSchema())
    @blp.response(201, ProjectSchema)
    def post(self, fields):
        """Create a project (admin, project manager)."""
        return service.create_project(authenticate_request(), fields)


@blp.route("/projects/<id:project_id>")
class ProjectById(MethodView):
    @requires("project.read")
    @blp.response(200, ProjectSchema)
    def get(self, project_id):
        """Read one project."""
        return service.project_for_reading(authenticate_request(), project_id)

    @requires("project.change")
    @blp.arguments(ProjectSchema(partial=True))
    @blp.response(200, ProjectSchema)
    def patch(self, fields, project_id):
        """Change a project (admin, project manager)."""
        return service.update_project(authenticate_request(), project_id, fields)

    @requires("project.change")
    @blp.response(204)
    def delete(self, project_id):
        """Delete a project that has no components."""
        service.delete_project(authenticate_request(), project_id)


@blp.route("/projects/<id:project_id>/buildings")
class Buildings(MethodView):
    @requires("project.read")
    @blp.response(200, BuildingSchema(many=True))
    def get(self, project_id):
        """List a project's buildings."""
        return service.project_for_reading(authenticate_request(), project_id).buildings

    @requires("project.change")
    @idempotent
    @blp.arguments(BuildingSchema())
    @blp.response(201, BuildingSchema)
    def post(self, fields, project_id):
        """Add a building to a project."""
        return service.create_building(authenticate_request(), project_id, fields)


@blp.route("/buildings/<id:building_id>")
class BuildingById(MethodView):
    @requires("project.read")
    @blp.response(200, BuildingSchema)
    def get(self, building_id):
        """Read one building."""
        return service.building_for(authenticate_request(), building_id)

    @requires("project.change")
    @blp.arguments(BuildingSchema(partial=True))
    @blp.response(200, BuildingSchema)
    def patch(self, fields, building_id):
        """Rename a building."""
        return service.update_building(authenticate_request(), building_id, fields)

    @requires("project.change")
    @blp.response(204)
    def delete(self, building_id):
        """Delete a building that has no components."""
        service.delete_building(authenticate_request(), building_id)


@blp.route("/buildings/<id:building_id>/storeys")
class Storeys(MethodView):
    @requires("project.read")
    @blp.response(200, StoreySchema(many=True))
    def get(self, building_id):
        """List a building's storeys, lowest first."""
        return service.building_for(authenticate_request(), building_id).storeys

    @requires("project.change")
    @idempotent
    @blp.arguments(StoreySchema())
    @blp.response(201, StoreySchema)
    def post(self, fields, building_id):
        """Add a storey to a building."""
        return service.create_storey(authenticate_request(), building_id, fields)


@blp.route("/storeys/<id:storey_id>")
class StoreyById(MethodView):
    @requires("project.read")
    @blp.response(200, StoreySchema)
    def get(self, storey_id):
        """Read one storey."""
        return service.storey_for(authenticate_request(), storey_id)

    @requires("project.change")
    @blp.arguments(StoreySchema(partial=True))
    @blp.response(200, StoreySchema)
    def patch(self, fields, storey_id):
        """Change a storey."""
        return service.update_storey(authenticate_request(), storey_id, fields)

    @requires("project.change")
    @blp.response(204)
    def delete(self, storey_id):
        """Delete a storey that has no components."""
        service.delete_storey(authenticate_request(), storey_id)


@blp.route("/projects/<id:project_id>/component-types")
class ComponentTypes(MethodView):
    @requires("project.read")
    @blp.response(200, ComponentTypeSchema(many=True))
    def get(self, project_id):
        """List a project's component types."""
        return service.list_component_types(authenticate_request(), project_id)

    @requires("project.change")
    @idempotent
    @blp.arguments(ComponentTypeSchema())
    @blp.response(201, ComponentTypeSchema)
    def post(self, fields, project_id):
        """Add a component type to a project."""
        return service.create_component_type(authenticate_request(), project_id, fields)


@blp.route("/component-types/<id:type_id>")
class ComponentTypeById(MethodView):
    @requires("project.read")
    @blp.response(200, ComponentTypeSchema)
    def get(self, type_id):
        """Read one component type."""
        return service.component_type_for(authenticate_request(), type_id)

    @requires("project.change")
    @blp.arguments(ComponentTypeSchema(partial=True))
    @blp.response(200, ComponentTypeSchema)
    def patch(self, fields, type_id):
        """Change a component type."""
        return service.update_component_type(authenticate_request(), type_id, fields)

    @requires("project.change")
    @blp.response(204)
    def delete(self, type_id):
        """Delete a component type no component uses."""
        service.delete_component_type(authenticate_request(), type_id)
