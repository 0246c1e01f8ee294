import pytest
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_login_page_is_served(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Log in" in response.content


def test_home_requires_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_signup_creates_a_user_and_logs_in(client):
    response = client.post(
        reverse("signup"),
        {
            "username": "ada",
            "email": "ada@example.com",
            "password1": "analytical-engine-1843",
            "password2": "analytical-engine-1843",
        },
    )
    assert response.status_code == 302
    assert User.objects.filter(username="ada").exists()
    assert client.get(reverse("home")).status_code == 200


def test_signup_turned_off_is_not_found(client, settings):
    settings.NUMINA_ALLOW_SIGNUP = False
    assert client.get(reverse("signup")).status_code == 404


def test_logout_is_a_post(client, user):
    client.force_login(user)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_user_ids_are_uuids(user):
    assert len(str(user.pk)) == 36
