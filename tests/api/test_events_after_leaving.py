"""Issue 15, leaving: an open event stream of a user who deletes their account (from
another device) ends at its next heartbeat, and heard nothing after the deletion."""

import httpx
import pytest

from tests.api.test_events import bearer, open_stream
from tests.event_stream import StreamClosed

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def test_deleting_the_account_ends_its_open_streams(asgi_server, user, token_for, settings):
    settings.NUMINA_EVENTS_HEARTBEAT_SECONDS = 0.2
    with open_stream(asgi_server, token_for(user)) as stream:
        assert stream.next(comments=True).kind == "comment"  # the stream is live
        with httpx.Client(base_url=asgi_server.url, headers=bearer(token_for(user))) as phone:
            gone = phone.request("DELETE", "/api/v1/me/", json={"password": PASSWORD})
            assert gone.status_code == 204, gone.text

        heard: list = []

        def read_to_the_end() -> None:
            while True:
                heard.append(stream.next(comments=True))

        with pytest.raises(StreamClosed):
            read_to_the_end()
        assert all(event.data is None for event in heard), heard  # heartbeats and ids only
