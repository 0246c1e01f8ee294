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
