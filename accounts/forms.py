from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import User


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class DeleteAccountForm(forms.Form):
    """Leaving: the password (checked by services.delete_account) and a deliberate tick,
    so no stray click or autofilled field deletes an account."""

    password = forms.CharField(
        label="Password",
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirm = forms.BooleanField(
        label="Delete my account and every chat in it, for good",
        error_messages={"required": "Tick this to confirm: deletion cannot be undone."},
    )
