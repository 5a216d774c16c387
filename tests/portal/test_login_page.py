"""/login/: one wrong password gets one message, in words."""

import re

from django.contrib.auth import get_user_model


def messages(html):
    """The error messages a page shows: Django's error lists and the page's own failure paragraphs."""
    return re.findall(r'<p class="failed">(.*?)</p>|<ul class="errorlist[^"]*">(.*?)</ul>', html, re.DOTALL)


def test_a_wrong_password_gets_one_message(client, db):
    get_user_model().objects.create_user("fiona", password="right-pw-0123456789")
    response = client.post("/login/", {"username": "fiona", "password": "wrong-pw"})
    assert response.status_code == 200
    shown = messages(response.content.decode())
    assert len(shown) == 1, shown
    assert "Please enter a correct username and password" in shown[0][0]


def test_a_missing_field_is_named_once(client, db):
    response = client.post("/login/", {"username": "fiona", "password": ""})
    shown = messages(response.content.decode())
    assert [text for text, _ in shown] == ["This field is required."], shown
