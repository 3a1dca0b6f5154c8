"""Labels: published keys, label versions, printing (PNG, SVG, PDF sheets)."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView

from construction.api.base import Blueprint, api_blueprint
from construction.auth import authenticate_request
from construction.idempotency import idempotent
from construction.permissions import PUBLIC, requires
from construction.schemas import (
    LabelIssueSchema,
    LabelKeysSchema,
    LabelListSchema,
    LabelSchema,
    LayoutArgs,
    SheetSchema,
)
from construction.services import labels as service
from construction.services.keys import published_keys
from labels.render import LAYOUTS, LabelContent, render_pdf, render_png, render_svg

blp = api_blueprint("labels", __name__, "Labels: issue, reprint and print component labels.",
                    url_prefix="/api/v1")
public = Blueprint("label-keys", __name__, url_prefix="/api/v1/labels",
                   description="Public keys that verify label signatures (no token needed).")

_MEDIA = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


@public.route("/keys")
class LabelKeys(MethodView):
    @requires(PUBLIC)
    @public.response(200, LabelKeysSchema)
    @public.doc(security=[])
    def get(self):
        """List the public keys that verify label signatures, retired and revoked ones included.

        A label URL ends `?v={version}&k={key_id}&s={signature}`: the Ed25519
        signature (unpadded base32) covers every character before `&s=`. A key
        with `revoked_at` verifies nothing: refuse labels it signed.
        """
        return {"keys": published_keys()}


@blp.route("/components/<id(max=9223372036854775807):component_id>/labels")
class ComponentLabels(MethodView):
    @requires("component.read")
    @blp.response(200, LabelListSchema)
    def get(self, component_id):
        """List every label version of a component, newest first."""
        return {"items": service.labels_of(authenticate_request(), component_id)}

    @idempotent
    # No body means the defaults: issue version 1, or return the current label.
    @requires("label.print")
    @blp.arguments(LabelIssueSchema(), required=False)
    @blp.response(201, LabelSchema)
    @blp.alt_response(200, schema=LabelSchema, description="The current label, already issued")
    def post(self, values, component_id):
        """Issue a component's label, or reprint it as a new version that revokes the old.

        Without `reprint` this is safe to repeat: the current label comes back
        (200). A reprint sent with an Idempotency-Key is done once.
        """
        label = service.issue_label(authenticate_request(), component_id,
                                    reprint=values["reprint"], reason=values["reason"])
        return label, 201 if getattr(label, "newly_issued", False) else 200


_IMAGE = {"200": {"description": "The label", "content": {
    "image/png": {}, "image/svg+xml": {}, "application/pdf": {}}}}


@blp.route("/components/<id(max=9223372036854775807):component_id>/"
           "label.<any(png, svg, pdf):kind>")
class ComponentLabelImage(MethodView):
    @requires("label.print")
    @blp.arguments(LayoutArgs(), location="query")
    @blp.doc(responses={**_IMAGE, "409": {"description": "No label issued yet (POST issues "
                                                         "one), or it is signed with a "
                                                         "revoked key (reprint it)"}})
    def get(self, args, component_id, kind):
        """Show a component's current label, as printed (issues nothing, counts no print)."""
        label = service.current_label(authenticate_request(), component_id)
        return _label_image(service.label_contents([label])[0], kind, args)

    @requires("label.print")
    @blp.arguments(LayoutArgs(), location="query")
    @blp.doc(responses=_IMAGE)
    def post(self, args, component_id, kind):
        """Print a component's current label: version 1 is issued the first time.

        Each call counts a print in the layout asked for (a photo of the label
        is measured by that layout).
        """
        content = service.print_label(authenticate_request(), component_id, args["layout"])
        return _label_image(content, kind, args)


def _label_image(content: LabelContent, kind: str, args: dict) -> Response:
    layout, font = LAYOUTS[args["layout"]], service.label_font()
    if kind == "png":
        body = render_png(content, layout, dpi=args["dpi"], font=font)
    elif kind == "svg":
        body = render_svg(content, layout, font=font)
    else:
        body = render_pdf([content], layout, title=f"Label {content.code}", font=font)
    response = Response(body, mimetype=_MEDIA[kind])
    response.headers["Content-Disposition"] = (
        f'inline; filename="{content.code}-v{content.version}.{kind}"')
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/labels/sheets")
class LabelSheets(MethodView):
    @requires("label.print")
    @blp.arguments(SheetSchema())
    @blp.doc(responses={"200": {"description": "A PDF of label sheets",
                                "content": {"application/pdf": {}}}})
    def post(self, values):
        """Print labels on sheets: named components, or those matching a filter, in order.

        A repeat of the same request prints the same label versions again;
        only `reprint: true` issues new versions (and revokes the old ones).
        """
        layout = values.pop("layout")
        reprint, reason = values.pop("reprint"), values.pop("reason")
        contents = service.print_sheet(authenticate_request(), values, layout,
                                       current_app.config["LABEL_SHEET_MAX"], reprint=reprint,
                                       reason=reason)
        response = Response(render_pdf(contents, LAYOUTS[layout], font=service.label_font()),
                            mimetype="application/pdf")
        response.headers["Content-Disposition"] = 'attachment; filename="labels.pdf"'
        response.headers["X-Label-Count"] = str(len(contents))
        return response
