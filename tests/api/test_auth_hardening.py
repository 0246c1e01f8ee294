"""Issue 11, authentication: forged client addresses, per-username throttling, devices,
log-out everywhere, NFKC usernames and undecodable Bearer tokens — over the API."""

import http.client
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import DeviceName, User
from numina.throttling import client_address

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
LOGOUT_ALL = "/api/v1/auth/logout-all/"
DEVICES = "/api/v1/auth/devices/"
ME = "/api/v1/me/"
GOOD_PASSWORD = "a-long-unusual-passphrase-42"
FULLWIDTH_ADA = "\uff41\uff44\uff41"  # "ada" in fullwidth letters


def bearer(client, token: str):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def wrong_passwords(client, path: str, usernames: list[str]) -> list:
    """POST a wrong password once per username, each with another X-Forwarded-For."""
    return [
        client.post(
            path,
            {"username": username, "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )
        for n, username in enumerate(usernames)
    ]


# --- client address: X-Forwarded-For only from our own proxies ------------------------


@pytest.mark.parametrize("path", [TOKEN, REGISTER])
def test_forged_x_forwarded_for_does_not_buy_a_fresh_auth_bucket(anon_api, throttle_rates, path):
    throttle_rates(auth="3/min")
    answers = wrong_passwords(anon_api, path, [f"guess{n}" for n in range(4)])
    assert [a.status_code for a in answers] == [400, 400, 400, 429]


def test_forged_x_forwarded_for_does_not_buy_a_fresh_anonymous_bucket(anon_api, throttle_rates):
    throttle_rates(anon="2/min")
    statuses = [
        anon_api.get("/api/v1/schema/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "expected"),
    [
        (0, "203.0.113.7", "10.0.0.1"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the client wrote 6.6.6.6
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (3, "203.0.113.7", "203.0.113.7"),  # fewer hops than proxies: the first one
        (1, "", "10.0.0.1"),
        (1, " , ", "10.0.0.1"),
    ],
)
def test_client_address_trusts_only_the_configured_proxies(
    settings, num_proxies, forwarded_for, expected
):
    settings.NUM_PROXIES = num_proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_address(request) == expected


def test_behind_a_proxy_each_client_address_has_its_own_bucket(anon_api, throttle_rates, settings):
    settings.NUM_PROXIES = 1
    throttle_rates(auth="1/min")
    answers = wrong_passwords(anon_api, TOKEN, [f"someone{n}" for n in range(3)])
    assert [a.status_code for a in answers] == [400, 400, 400]


def test_token_guessing_is_throttled_per_username_when_the_address_varies(
    anon_api, throttle_rates, settings, user
):
    settings.NUM_PROXIES = 1  # every try really comes from another address
    throttle_rates(auth="3/min")
    # Case and NFKC spelling make neither another account nor another bucket.
    spellings = [user.username, user.username.upper(), user.username, user.username]
    answers = wrong_passwords(anon_api, TOKEN, spellings)
    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    assert int(answers[-1]["Retry-After"]) > 0


# --- one username rule (NFKC) for the API and the browser -------------------------------


def test_api_sign_up_refuses_the_fullwidth_spelling_of_a_taken_username(anon_api):
    assert (
        anon_api.post(
            REGISTER, {"username": "ada", "password": GOOD_PASSWORD}, format="json"
        ).status_code
        == 201
    )
    response = anon_api.post(
        REGISTER, {"username": FULLWIDTH_ADA, "password": GOOD_PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()
    assert User.objects.count() == 1


def test_api_sign_up_stores_the_name_the_browser_signs_in_with(anon_api, client):
    response = anon_api.post(
        REGISTER, {"username": FULLWIDTH_ADA, "password": GOOD_PASSWORD}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["user"]["username"] == "ada"
    signup = client.post(
        reverse("signup"),
        {"username": "ada", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
    )
    assert signup.status_code == 200  # the form, with the conflict
    assert User.objects.count() == 1
    login = client.post(reverse("login"), {"username": FULLWIDTH_ADA, "password": GOOD_PASSWORD})
    assert login.status_code == 302


def test_api_token_accepts_the_fullwidth_spelling_of_a_username(anon_api):
    User.objects.create_user(username="ada", password=GOOD_PASSWORD)
    response = anon_api.post(
        TOKEN, {"username": FULLWIDTH_ADA, "password": GOOD_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["user"]["username"] == "ada"


def test_api_sign_up_bounds_the_username_after_normalizing_it(anon_api):
    # One character that NFKC turns into eighteen: 10 of them are 180, over the column's 150.
    response = anon_api.post(
        REGISTER, {"username": "\ufdfa" * 10, "password": GOOD_PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()
    assert not User.objects.exists()


# --- password change, log out everywhere, devices ------------------------------------


def test_a_password_set_outside_the_account_page_signs_tokens_out_too(user, token_for, anon_api):
    token = token_for(user)
    user.set_password("a-new-long-passphrase-77")  # the admin, reset, changepassword
    user.save()
    assert bearer(anon_api, token).get(ME).status_code == 401


def test_saving_a_user_without_a_new_password_keeps_their_tokens(user, token_for, anon_api):
    token = token_for(user)
    user.email = "new@example.com"
    user.save()
    assert bearer(anon_api, token).get(ME).status_code == 200


def test_logout_all_signs_every_token_out(user, token_for, anon_api, other_user):
    phone, laptop = token_for(user), token_for(user)
    someone_else = token_for(other_user)
    assert bearer(anon_api, phone).post(LOGOUT_ALL).status_code == 204
    for token in (phone, laptop):
        assert bearer(anon_api, token).get(ME).status_code == 401
    assert bearer(anon_api, someone_else).get(ME).status_code == 200


def test_logout_all_needs_credentials(anon_api):
    assert anon_api.post(LOGOUT_ALL).status_code == 401


def test_devices_lists_the_live_tokens_never_the_tokens(anon_api, user, token_for):
    from accounts.services import issue_token

    laptop, _ = issue_token(user=user, device_name="")
    phone, _ = issue_token(user=user, device_name="Pixel 9")
    expired, _ = issue_token(user=user, device_name="Old phone")
    AuthToken.objects.filter(device__name="Old phone").update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    response = bearer(anon_api, phone).get(DEVICES)
    assert response.status_code == 200
    devices = response.json()
    assert [d["device_name"] for d in devices] == ["Pixel 9", ""]
    assert all(
        set(d) == {"id", "device_name", "created_at", "expires_at", "current"} for d in devices
    )
    assert [d["current"] for d in devices] == [True, False]
    assert not any(secret in response.content.decode() for secret in (laptop, phone, expired))


def test_devices_answers_in_a_fixed_number_of_queries(
    anon_api, user, token_for, django_assert_max_num_queries
):
    token = token_for(user)
    for _ in range(5):
        token_for(user)
    with django_assert_max_num_queries(2):
        assert len(bearer(anon_api, token).get(DEVICES).json()) == 6


def test_revoking_a_device_signs_only_it_out(anon_api, user, token_for):
    phone, laptop = token_for(user), token_for(user)
    laptop_id = next(
        d["id"] for d in bearer(anon_api, phone).get(DEVICES).json() if not d["current"]
    )
    assert bearer(anon_api, phone).delete(f"{DEVICES}{laptop_id}/").status_code == 204
    assert bearer(anon_api, laptop).get(ME).status_code == 401
    assert bearer(anon_api, phone).get(ME).status_code == 200


def test_another_users_device_is_404_and_stays_signed_in(anon_api, user, other_user, token_for):
    mine, theirs = token_for(user), token_for(other_user)
    their_device = DeviceName.objects.get(token__user=other_user).device_id
    response = bearer(anon_api, mine).delete(f"{DEVICES}{their_device}/")
    assert response.status_code == 404
    assert bearer(anon_api, theirs).get(ME).status_code == 200


@pytest.mark.parametrize("device_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_a_device_id_that_is_not_a_uuid_or_unknown_is_404(api, device_id):
    response = api.delete(f"{DEVICES}{device_id}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_every_token_has_a_device_to_revoke_it_by(user, token_for):
    token_for(user)
    from accounts.services import issue_token

    issue_token(user=user)  # no device name
    assert DeviceName.objects.filter(token__user=user).count() == 2


# --- a Bearer token that is not UTF-8 -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_non_utf8_bearer_byte_is_401_not_500(live_server):
    address = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.putrequest("GET", ME)
    connection.putheader("Authorization", b"Bearer \xff")  # a raw byte, not UTF-8
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 401, body[:500]
    assert b'"code"' in body
