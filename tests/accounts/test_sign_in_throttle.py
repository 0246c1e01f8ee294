"""Issue 11, authentication: the browser's and the admin's sign-in forms are throttled per
address and per username, and the account page lists the devices, each revocable."""

import pytest
from django.urls import reverse

from accounts.models import DeviceName

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def wrong_logins(client, path: str, attempts: list[tuple[str, str]]) -> list:
    """POST a wrong password once per (username, client address)."""
    return [
        client.post(path, {"username": username, "password": "wrong"}, REMOTE_ADDR=address)
        for username, address in attempts
    ]


@pytest.mark.parametrize("page", ["login", "admin:login"])
def test_sign_in_past_the_rate_from_one_address_is_refused_with_429(client, throttle_rates, page):
    throttle_rates(auth="3/min")
    answers = wrong_logins(client, reverse(page), [(f"guess{n}", "198.51.100.1") for n in range(4)])
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0
    assert "Too many attempts. Try again in" in answers[-1].content.decode()


@pytest.mark.parametrize("page", ["login", "admin:login"])
def test_sign_in_past_the_rate_for_one_username_is_refused_when_the_address_varies(
    client, throttle_rates, user, page
):
    throttle_rates(auth="3/min")
    answers = wrong_logins(
        client, reverse(page), [(user.username, f"198.51.100.{n}") for n in range(4)]
    )
    assert [a.status_code for a in answers] == [200, 200, 200, 429]


def test_a_correct_login_under_the_limit_is_not_refused(client, throttle_rates, user):
    throttle_rates(auth="3/min")
    wrong_logins(client, reverse("login"), [(user.username, "198.51.100.1")] * 2)
    response = client.post(
        reverse("login"),
        {"username": user.username, "password": GOOD_PASSWORD},
        REMOTE_ADDR="198.51.100.1",
    )
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_the_throttled_login_checks_no_password(client, throttle_rates, user):
    throttle_rates(auth="1/min")
    wrong_logins(client, reverse("login"), [(user.username, "198.51.100.1")])
    response = client.post(
        reverse("login"),
        {"username": user.username, "password": GOOD_PASSWORD},
        REMOTE_ADDR="198.51.100.2",
    )
    assert response.status_code == 429
    assert client.get(reverse("home")).status_code == 302  # not signed in


def test_sign_up_past_the_rate_from_one_address_is_refused(client, throttle_rates):
    throttle_rates(auth="2/min")
    statuses = [
        client.post(
            reverse("signup"),
            {"username": f"new{n}", "password1": "x", "password2": "y"},
            REMOTE_ADDR="198.51.100.1",
        ).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_the_api_and_the_browser_share_the_sign_in_buckets(client, anon_api, throttle_rates):
    throttle_rates(auth="2/min")
    api = anon_api.post(
        "/api/v1/auth/token/", {"username": "ghost", "password": "x"}, format="json"
    )
    browser = wrong_logins(client, reverse("login"), [("ghost", "127.0.0.1")] * 2)
    assert [api.status_code, *(b.status_code for b in browser)] == [400, 200, 429]


def test_login_page_itself_is_never_throttled(client, throttle_rates):
    throttle_rates(auth="1/min")
    assert [client.get(reverse("login")).status_code for _ in range(3)] == [200, 200, 200]


# --- the account page: devices ---------------------------------------------------------


@pytest.fixture
def phone(user):
    from accounts.services import issue_token

    return issue_token(user=user, device_name="Pixel 9")[0]


def test_account_page_lists_the_devices_with_a_revoke_form_each(client, user, phone):
    client.force_login(user)
    page = client.get(reverse("password_change")).content.decode()
    device = DeviceName.objects.get(token__user=user)
    action = reverse("device_revoke", args=[device.device_id])
    assert "Pixel 9" in page
    form = page[page.index(f'action="{action}"') - 40 :]
    assert 'method="post"' in form[:80]
    assert "csrfmiddlewaretoken" in form[:400]
    assert 'aria-label="Revoke Pixel 9"' in form[:600]
    assert phone not in page


def test_revoking_a_device_from_the_account_page_signs_it_out(client, user, phone, anon_api):
    client.force_login(user)
    device = DeviceName.objects.get(token__user=user)
    response = client.post(reverse("device_revoke", args=[device.device_id]), follow=True)
    assert response.status_code == 200
    assert "The device was signed out." in response.content.decode()
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {phone}")
    assert anon_api.get("/api/v1/me/").status_code == 401
    assert client.get(reverse("home")).status_code == 200


def test_revoking_another_users_device_from_the_page_is_404(client, other_user, phone, user):
    client.force_login(other_user)
    device = DeviceName.objects.get(token__user=user)
    assert client.post(reverse("device_revoke", args=[device.device_id])).status_code == 404
    assert client.post(reverse("device_revoke", args=["nope"])).status_code == 404
    assert DeviceName.objects.filter(pk=device.pk).exists()


def test_revoking_a_device_needs_a_post_with_csrf(user, phone):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    device = DeviceName.objects.get(token__user=user)
    url = reverse("device_revoke", args=[device.device_id])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    assert DeviceName.objects.filter(pk=device.pk).exists()


def test_sign_out_all_devices_from_the_account_page(client, user, phone, anon_api):
    client.force_login(user)
    response = client.post(reverse("devices_sign_out_all"))
    assert response.status_code == 302
    assert not DeviceName.objects.filter(token__user=user).exists()
    assert client.get(reverse("home")).status_code == 200
