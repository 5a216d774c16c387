"""The one reading of an OAuth token endpoint's answer (connectors.tokens.token_from_response), which Infor,
Acumatica and IFS all sign in through."""

import json

import pytest

from connectors.errors import TransientError
from connectors.tokens import token_from_response

SECRET = "eyJ-access-s3cr3t"


class Answer:
    def __init__(self, text):
        self.text = text

    def json(self):
        return json.loads(self.text)


def test_a_grant_gives_its_token_lifetime_and_refresh_token():
    granted = token_from_response(Answer(json.dumps({"access_token": SECRET, "expires_in": "3600",
                                                     "refresh_token": "r-1", "token_type": "Bearer"})), "Infor")
    assert granted == (SECRET, 3600, {"refresh_token": "r-1"})


def test_a_grant_without_a_refresh_token_keeps_nothing_else():
    assert token_from_response(Answer(json.dumps({"access_token": SECRET, "expires_in": 300})), "IFS IAM").extra == {}


@pytest.mark.parametrize("text", [
    "<html>Service unavailable</html>",
    json.dumps([SECRET]),
    json.dumps({"expires_in": 3600}),
    json.dumps({"access_token": SECRET}),
    json.dumps({"access_token": SECRET, "expires_in": "soon"}),
    json.dumps({"access_token": SECRET, "expires_in": 0}),
    json.dumps({"access_token": "", "expires_in": 3600}),
    json.dumps({"access_token": 42, "expires_in": 3600}),
])
def test_an_answer_without_a_usable_token_is_one_transient_error_in_words(text):
    with pytest.raises(TransientError) as caught:
        token_from_response(Answer(text), "Acumatica")
    assert str(caught.value) == ("Acumatica's token endpoint answered without a usable access token (a non-empty "
                                 "access_token and a positive expires_in).")
    assert SECRET not in str(caught.value)
