"""Sign-up for the browser UI; log-in, log-out and password change are Django's views."""

from django.conf import settings
from django.contrib.auth import login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .forms import SignupForm


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.NUMINA_ALLOW_SIGNUP:
        raise Http404("Sign-up is turned off.")
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})
