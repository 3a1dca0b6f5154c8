"""The audit log, for admins (all of it) and regulators (their region's projects)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from construction.api.base import api_blueprint
from construction.auth import authenticate_request
from construction.pagination import page_schema, paged
from construction.permissions import requires
from construction.schemas import PageArgs, Period, moment, ref
from construction.services import audit as service

blp = api_blueprint("audit", __name__, "Who exported, changed accounts, tokens, labels, keys "
                    "and projects, or was refused, when and from where.", url_prefix="/api/v1")


class AuditRecordSchema(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    user_id = fields.Integer(allow_none=True, metadata={"description": "None for a command"})
    user_name = fields.String(metadata={"description": "A command's operating-system user is "
                                                       "`os:<login>`"})
    organization_id = fields.Integer(allow_none=True)
    role = fields.String()
    action = fields.String(metadata={"description": "; ".join(
        f"`{name}`: {meaning}" for name, meaning in service.ACTIONS.items())})
    project_id = fields.Integer(allow_none=True)
    subject = fields.String()
    detail = fields.Dict(allow_none=True)
    address = fields.String(metadata={"description": "The client's address; `cli` for a "
                                                     "command"})
    request_id = fields.String(allow_none=True, metadata={
        "description": "The request's X-Request-Id, when it sent one"})


AuditPageSchema = page_schema(AuditRecordSchema, "AuditPageSchema")


class AuditQueryArgs(PageArgs, Period):
    action = fields.String(validate=validate.OneOf(tuple(service.ACTIONS)))
    user_id = ref()
    project_id = ref()
    since = moment()
    until = moment()


@blp.route("/audit")
class AuditRecords(MethodView):
    @requires("audit.read")
    @blp.arguments(AuditQueryArgs(), location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, args):
        """List audit records with filters, newest first (admins; regulators: their projects)."""
        principal = authenticate_request()
        page, per_page = args.pop("page"), args.pop("per_page")
        return paged(service.list_records(principal, service.AuditFilters(**args), page,
                                          per_page))
