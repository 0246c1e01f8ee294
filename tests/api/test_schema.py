"""The served OpenAPI schema is what the mobile app's client code is generated from."""

from django.core.management import call_command


def test_schema_validates_with_no_warnings(tmp_path):
    # --fail-on-warn: a warning (an unnamed enum, an undescribed view) is a schema the
    # generated clients would read differently from API.md.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    assert (tmp_path / "s.yml").read_text().startswith("openapi: 3")


def test_schema_describes_the_branches(tmp_path):
    import yaml

    call_command("spectacular", "--file", str(tmp_path / "s.yml"))
    schema = yaml.safe_load((tmp_path / "s.yml").read_text())
    components, paths = schema["components"]["schemas"], schema["paths"]

    assert {"parent_id", "sibling_ids"} <= set(components["Message"]["required"])
    assert components["Message"]["properties"]["parent_id"]["nullable"] is True
    assert "current_message_id" in components["Conversation"]["properties"]
    assert "current_message_id" in components["PatchedConversationUpdateInputRequest"]["properties"]
    for request in ("ChatInputRequest", "MessageCreateInputRequest"):
        assert components[request]["properties"]["parent_id"]["nullable"] is True
    regenerate = paths["/api/v1/chat/regenerate/"]["post"]
    assert {"200", "201", "400", "404", "429", "502"} <= set(regenerate["responses"])
    assert set(regenerate["responses"]["200"]["content"]) == {"text/event-stream"}
    listing = paths["/api/v1/conversations/{conversation_id}/messages/"]["get"]
    (thread,) = [p for p in listing["parameters"] if p["name"] == "thread"]
    assert thread["schema"]["enum"] == ["all", "current"]
