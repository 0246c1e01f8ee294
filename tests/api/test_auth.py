import pytest
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import DeviceName, User

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/me/"
GOOD_PASSWORD = "a-long-unusual-passphrase-42"


def test_register_returns_a_token_that_works(anon_api):
    response = anon_api.post(
        REGISTER,
        {"username": "ada", "password": GOOD_PASSWORD, "email": "ada@example.com"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"]["username"] == "ada"
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert anon_api.get(ME).json() == {
        "id": body["user"]["id"],
        "username": "ada",
        "email": "ada@example.com",
    }


def test_tokens_are_stored_hashed(anon_api):
    token = anon_api.post(
        REGISTER, {"username": "ada", "password": GOOD_PASSWORD}, format="json"
    ).json()["token"]
    stored = AuthToken.objects.get()
    assert token not in {stored.digest, stored.token_key}
    assert len(stored.digest) == 128


def test_token_expires_after_the_configured_days(anon_api):
    body = anon_api.post(
        REGISTER, {"username": "ada", "password": GOOD_PASSWORD}, format="json"
    ).json()
    expires_at = AuthToken.objects.get().expiry
    assert abs((expires_at - timezone.now()).days - 30) <= 1
    assert body["expires_at"].startswith(expires_at.strftime("%Y-%m-%dT%H"))


def test_expired_token_is_refused(anon_api, user, token_for):
    token = token_for(user)
    AuthToken.objects.update(expiry=timezone.now() - timezone.timedelta(seconds=1))
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anon_api.get(ME).status_code == 401


def test_register_refuses_a_taken_username_in_any_case(anon_api, user):
    response = anon_api.post(
        REGISTER, {"username": user.username.upper(), "password": GOOD_PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()


@pytest.mark.parametrize("password", ["short", "password123", "12345678901"])
def test_register_refuses_passwords_djangos_validators_refuse(anon_api, password):
    response = anon_api.post(REGISTER, {"username": "ada", "password": password}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()
    assert not User.objects.filter(username="ada").exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "ada"},
        {"password": GOOD_PASSWORD},
        {"username": "a b", "password": GOOD_PASSWORD},
        {"username": "x" * 151, "password": GOOD_PASSWORD},
        {"username": "ada", "password": GOOD_PASSWORD, "email": "nope"},
    ],
)
def test_register_refuses_malformed_bodies(anon_api, body):
    assert anon_api.post(REGISTER, body, format="json").status_code == 400


def test_register_when_signup_is_off_is_403(anon_api, settings):
    settings.NUMINA_ALLOW_SIGNUP = False
    response = anon_api.post(
        REGISTER, {"username": "ada", "password": GOOD_PASSWORD}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "signup_disabled"


def test_token_with_good_credentials(anon_api, user):
    response = anon_api.post(
        TOKEN,
        {
            "username": user.username,
            "password": "correct horse battery staple",
            "device_name": "Pixel",
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.id)
    assert DeviceName.objects.get(token__user=user).name == "Pixel"


def test_bad_credentials_say_the_same_whether_or_not_the_user_exists(anon_api, user):
    wrong_password = anon_api.post(
        TOKEN, {"username": user.username, "password": "nope"}, format="json"
    )
    no_such_user = anon_api.post(TOKEN, {"username": "ghost", "password": "nope"}, format="json")
    assert wrong_password.status_code == no_such_user.status_code == 400
    assert wrong_password.json() == no_such_user.json()


def test_logout_revokes_only_that_token(anon_api, user, token_for):
    phone, laptop = token_for(user), token_for(user)
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {phone}")
    assert anon_api.post(LOGOUT).status_code == 204
    assert anon_api.get(ME).status_code == 401
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {laptop}")
    assert anon_api.get(ME).status_code == 200


def test_session_logout_ends_the_session_with_a_401_bearer_challenge(session_api):
    assert session_api.post(LOGOUT).status_code == 204

    response = session_api.get(ME)

    # Bearer tokens are the first authentication class, so DRF answers an unauthenticated
    # request 401 with their challenge (a 403 would mean no class can challenge).
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"


def test_me_without_credentials_is_401(anon_api):
    response = anon_api.get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_garbage_bearer_token_is_401(anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert anon_api.get(ME).status_code == 401


def test_session_auth_requires_csrf_for_writes(user):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(ME).status_code == 200
    assert client.post("/api/v1/conversations/", {}, format="json").status_code == 403


def test_register_and_token_are_throttled_per_address(anon_api, throttle_rates):
    throttle_rates(auth="3/min")
    answers = [
        anon_api.post(TOKEN, {"username": "ghost", "password": "x"}, format="json")
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    assert int(answers[-1]["Retry-After"]) > 0
    assert answers[-1].json()["code"] == "throttled"


def test_authenticated_requests_are_throttled_per_user(api, throttle_rates):
    throttle_rates(user="2/min")
    statuses = [api.get(ME).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_anonymous_requests_are_throttled(anon_api, throttle_rates):
    throttle_rates(anon="2/min")
    statuses = [anon_api.get("/api/v1/schema/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_an_expired_token_is_deleted_when_used(anon_api, user, token_for):
    token = token_for(user)
    AuthToken.objects.update(expiry=timezone.now() - timezone.timedelta(seconds=1))
    anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anon_api.get(ME).status_code == 401
    assert not AuthToken.objects.filter(user=user).exists()


def test_logging_in_sweeps_the_users_expired_tokens(anon_api, user, token_for):
    token_for(user)
    AuthToken.objects.update(expiry=timezone.now() - timezone.timedelta(days=1))
    anon_api.post(
        TOKEN,
        {"username": user.username, "password": "correct horse battery staple"},
        format="json",
    )
    assert AuthToken.objects.filter(user=user).count() == 1


def test_a_request_costs_one_query_for_authentication(api, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert api.get(ME).status_code == 200
