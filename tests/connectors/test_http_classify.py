"""The generic reading of HTTP statuses: which refusals belong to one record, which are waited out."""

import pytest
import requests

from connectors.errors import Conflict, DataError, Locked, NotFound, RateLimited, RecordError, TransientError
from connectors.http import default_classify


def response(status, headers=None, body=b"{}"):
    r = requests.Response()
    r.status_code = status
    r.headers.update(headers or {})
    r._content = body
    return r


@pytest.mark.parametrize("status,error,error_class", [
    (404, NotFound, "not_found"), (409, Conflict, "conflict"), (412, Conflict, "conflict"),
    (423, Locked, "locked"), (400, DataError, "data"), (422, DataError, "data")])
def test_refusals_about_one_record_are_record_errors(status, error, error_class):
    with pytest.raises(error) as caught:
        default_classify(response(status), "IFS")
    assert isinstance(caught.value, RecordError) and caught.value.error_class == error_class
    assert caught.value.status == status


def test_a_503_with_retry_after_is_waited_out_like_a_429():
    with pytest.raises(RateLimited) as caught:
        default_classify(response(503, {"Retry-After": "7"}), "IFS")
    assert caught.value.retry_after == 7.0
    with pytest.raises(TransientError) as plain:
        default_classify(response(503), "IFS")
    assert not isinstance(plain.value, RateLimited), "no Retry-After: ordinary backoff"
