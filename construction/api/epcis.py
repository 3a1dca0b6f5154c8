"""GS1 EPCIS 2.0: query our events as EPCISQueryDocuments, and capture events from others."""

from __future__ import annotations

from construction.api.base import api_blueprint

blp = api_blueprint("epcis", __name__, "GS1 EPCIS 2.0 query and capture.",
                    url_prefix="/api/v1/epcis")
