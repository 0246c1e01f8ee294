"""/account/: the signed-in user's page; anyone else is sent to log in."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_account_page_shows_the_signed_in_user(client, user):
    client.force_login(user)
    page = client.get("/account/")
    assert page.status_code == 200
    assert user.username in page.content.decode()


def test_the_account_page_needs_a_sign_in(client):
    page = client.get("/account/")
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")
