"""The account pages of the browser UI: log in, sign up, log out, password change."""

import pytest
from django.http import HttpResponse
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_login_page_labels_its_fields_plainly(client):
    page = client.get(reverse("login")).content.decode()
    assert ">Username</label>" in page
    assert ">Password</label>" in page


def test_signup_page_has_the_sign_up_button(client):
    page = client.get(reverse("signup")).content.decode()
    assert '<button type="submit" class="primary wide">Sign up</button>' in page


def test_logout_by_get_is_refused(client, user):
    client.force_login(user)
    assert client.get(reverse("logout")).status_code == 405


def test_logout_button_is_a_post_form_with_csrf(client, user):
    client.force_login(user)
    page = client.get(reverse("home")).content.decode()
    form = page[page.index(f'action="{reverse("logout")}"') - 40 :]
    assert 'method="post"' in form[:80]
    assert "csrfmiddlewaretoken" in form[:400]


def test_password_change_needs_login(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def change_password(client) -> HttpResponse:
    return client.post(
        reverse("password_change"),
        {
            "old_password": "correct horse battery staple",
            "new_password1": "a-new-long-passphrase-77",
            "new_password2": "a-new-long-passphrase-77",
        },
    )


def test_password_change_changes_the_password(client, user):
    client.force_login(user)
    assert change_password(client).status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-new-long-passphrase-77")


def test_password_change_signs_every_api_token_out(client, user, token_for, anon_api):
    phone, laptop = token_for(user), token_for(user)
    client.force_login(user)
    assert change_password(client).status_code == 302
    for token in (phone, laptop):
        anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert anon_api.get("/api/v1/me/").status_code == 401
    assert client.get(reverse("home")).status_code == 200  # the session that changed it
