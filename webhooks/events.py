"""Reading a BILL webhook event body, for the endpoint, the task and the history catch-up alike."""

import json


def parse_event(body):
    """The event as a dict; BILL may send the payload JSON-escaped as a string, so parse twice then."""
    data = json.loads(body)
    if isinstance(data, str):
        data = json.loads(data)
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        raise ValueError("no metadata object")
    if not data["metadata"].get("eventId"):
        raise ValueError("metadata.eventId is missing")
    return data
