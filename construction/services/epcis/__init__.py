"""GS1 EPCIS 2.0: the ledger read as ObjectEvents, and ObjectEvents captured as scans.

- `vocabulary`: our namespace, CBV business steps and dispositions, times, `geo:` URIs,
  event identifiers and the EPCs of our components;
- `query`: stored events (and load scans) as an EPCISQueryDocument, with its cursor;
- `validation`: an incoming document checked against the shape of the GS1 JSON Schema;
- `capture`: the ObjectEvents of a valid document recorded as scans.

The names the EPCIS API uses are here too.
"""

from construction.services.epcis.capture import EventOutcome, capture_counts, capture_document
from construction.services.epcis.query import (
    EventQuery,
    decode_page_token,
    encode_page_token,
    query_events,
)
from construction.services.epcis.vocabulary import EPCIS_ACTIONS, parse_time, short_vocabulary

__all__ = [
    "EPCIS_ACTIONS",
    "EventOutcome",
    "EventQuery",
    "capture_counts",
    "capture_document",
    "decode_page_token",
    "encode_page_token",
    "parse_time",
    "query_events",
    "short_vocabulary",
]
