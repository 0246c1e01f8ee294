"""Sign-up and the signed-in devices for the browser UI; log-in, log-out and password
change are Django's views."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from conversations.selectors.stats import account_stats

from . import selectors, services
from .charts import monthly_charts
from .forms import SignupForm
from .models import DeviceName, signed_in_user


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


class PasswordChangeView(auth_views.PasswordChangeView):
    """The account page: the password (changing it signs every device out, User.save)
    and the devices signed in with API tokens, each with its own revoke form."""

    template_name = "accounts/password_change.html"
    success_url = "/"

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "devices": selectors.live_devices(user=signed_in_user(self.request)),
        }


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """/account/: what the user has here and what they can do with all of it — its
    sections (templates/accounts/_account_*.html) each bring their own forms."""
    return render(request, "accounts/account.html", {**_stats_context(request)})


def _stats_context(request: HttpRequest) -> dict:
    """The stats section's numbers and chart (issue 15)."""
    stats = account_stats(user=request.user)
    return {"stats": stats, "charts": monthly_charts(stats)}


@login_required
@require_POST
def revoke_device(request: HttpRequest, device_id: str) -> HttpResponse:
    try:
        services.revoke_device(user=signed_in_user(request), device_id=device_id)
    except DeviceName.DoesNotExist:
        raise Http404("No such device.") from None
    messages.success(request, "The device was signed out.")
    return redirect("password_change")


@login_required
@require_POST
def sign_out_all_devices(request: HttpRequest) -> HttpResponse:
    services.revoke_all_tokens(user=signed_in_user(request))
    messages.success(request, "Every device was signed out.")
    return redirect("password_change")
