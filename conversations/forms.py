"""Input shapes of the browser UI's forms.

The forms say which fields a request carries and check them with the same cleaners the
services use (validation.py), so the limits live once and a page can show a refused
value beside its field before anything is written.
"""

from __future__ import annotations

from django import forms

from . import validation


class MessageForm(forms.Form):
    # strip=False: a message keeps its leading indentation (code); the service refuses
    # one that is only white space.
    content = forms.CharField(
        label="Message", strip=False, widget=forms.Textarea(attrs={"rows": 1})
    )

    def clean_content(self) -> str:
        return validation.clean_content(self.cleaned_data["content"])


class EditForm(MessageForm):
    """The new text of one of the user's messages: sent as its next version."""

    content = forms.CharField(
        label="Edited message", strip=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class TitleForm(forms.Form):
    title = forms.CharField(label="Title", strip=False)

    def clean_title(self) -> str:
        return validation.clean_title(self.cleaned_data["title"])


class InstructionsForm(forms.Form):
    """A chat's standing instructions; empty clears them."""

    instructions = forms.CharField(
        label="Instructions",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def clean_instructions(self) -> str:
        return validation.clean_instructions(self.cleaned_data["instructions"])


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=[("json", "JSON"), ("markdown", "Markdown")], required=False)


def _comma_separated_tags(text: str) -> list[str]:
    """What people type in a Tags field — "work, ideas ,, travel" — as tag names: split
    at commas, blank pieces dropped; the names then pass the API's own tag rules."""
    return validation.clean_tags([name for name in text.split(",") if name.strip()])


class TagsForm(forms.Form):
    """A chat's tags as one comma-separated field (UI.md: ``Tags``); empty clears them."""

    tags = forms.CharField(label="Tags", required=False, strip=False)

    def clean_tags(self) -> list[str]:
        return _comma_separated_tags(self.cleaned_data["tags"])


class BulkForm(forms.Form):
    """An action of Select on the chats ticked (``ids``, read by the view); ``tags``
    only for Tag selected."""

    action = forms.ChoiceField(
        choices=[
            ("archive", "Archive"),
            ("unarchive", "Unarchive"),
            ("delete", "Delete"),
            ("add_tags", "Tag"),
        ]
    )
    tags = forms.CharField(label="Tags to add", required=False, strip=False)

    def clean_tags(self) -> list[str]:
        return _comma_separated_tags(self.cleaned_data["tags"])

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        if cleaned.get("action") == "add_tags" and not cleaned.get("tags") and not self.errors:
            self.add_error("tags", "Give the tags to add, separated by commas.")
        return cleaned
