"""The memory page's forms: an item (kind + content) and the ``Use memory`` switch. The
rules themselves are the services' (memory/services.py); these only read the fields."""

from django import forms

from .models import CONTENT_MAX_LENGTH, Kind


class MemoryItemForm(forms.Form):
    kind = forms.ChoiceField(choices=Kind.choices, initial=Kind.FACT)
    content = forms.CharField(max_length=CONTENT_MAX_LENGTH, strip=True)


class MemorySwitchForm(forms.Form):
    memory_enabled = forms.BooleanField(required=False)
