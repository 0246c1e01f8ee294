"""Issue 15, leaving, in a real browser: ``Delete account`` on /account/ refuses a wrong
password, then with the password and the tick deletes everything, signs out and shows
the log-in page with a notice."""

import pytest
from playwright.sync_api import expect

from accounts.models import User
from conversations import services
from conversations.models import Conversation, Message
from tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_delete_account_asks_for_the_password_and_a_tick_then_signs_out(
    page, log_in, live_server, artifacts
):
    user = log_in(page)
    conversation = services.create_conversation(user=user, title="Walks along the coast")
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="hi")
    page.reload()
    page.get_by_role("link", name="Account").click()
    section = page.get_by_role("region", name="Delete account")

    # A wrong password: the field says so and the account stays.
    section.get_by_label("Password").fill("not my password")
    section.get_by_label("Delete my account and every chat in it, for good").check()
    section.get_by_role("button", name="Delete account").click()
    expect(page.get_by_text("That is not your password; nothing was deleted.")).to_be_visible()
    assert User.objects.filter(pk=user.pk).exists()

    # Without the tick the browser itself keeps the form from going (a required box).
    section = page.get_by_role("region", name="Delete account")
    section.get_by_label("Password").fill(PASSWORD)
    tick = section.get_by_label("Delete my account and every chat in it, for good")
    tick.uncheck()
    section.get_by_role("button", name="Delete account").click()
    assert tick.evaluate("box => box.validity.valueMissing")  # the form was not sent

    tick.check()
    section.get_by_label("Password").fill(PASSWORD)
    section.get_by_role("button", name="Delete account").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("status")).to_have_text(
        "Your account and everything in it were deleted."
    )
    page.screenshot(path=artifacts / "account-deleted.png")
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Conversation.objects.filter(owner_id=user.pk).exists()
    assert not Message.objects.filter(owner_id=user.pk).exists()

    # Signed out: the chats page sends to log in, and the old password no longer works.
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
