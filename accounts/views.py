"""Sign-up, the signed-in devices, the account page and leaving for the browser UI;
log-in, log-out and password change are Django's views."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from conversations import access
from conversations.models import ImportJob
from conversations.selectors.stats import account_stats

from . import selectors, services
from .charts import monthly_charts
from .forms import DeleteAccountForm, SignupForm
from .models import DeviceName, signed_in_user
from .throttling import ACCOUNT_DELETION_THROTTLES, throttle_sign_in


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
    return _account_page(request)


def _account_page(
    request: HttpRequest, *, status: int = 200, delete_form: DeleteAccountForm | None = None
) -> HttpResponse:
    """The whole page, also when a section's form comes back with errors: each section
    adds its context here, one line each."""
    context: dict = {}
    context.update(_stats_context(request))  # _account_stats.html
    context.update(_import_section(request))  # _account_import.html
    context.update(_delete_section(delete_form))  # _account_delete.html
    return render(request, "accounts/account.html", context, status=status)


def _delete_section(form: DeleteAccountForm | None = None) -> dict:
    return {"delete_form": form or DeleteAccountForm()}


@login_required
@require_POST
def _delete_account(request: HttpRequest) -> HttpResponse:
    """``Delete account``: with the password and the tick, the account and all it owns
    are gone, this browser is signed out and lands on the log-in page with a notice."""
    form = DeleteAccountForm(request.POST)
    if form.is_valid():
        try:
            services.delete_account(
                user=signed_in_user(request), password=form.cleaned_data["password"]
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field, errors)
        else:
            logout(request)
            # After logout: the notice goes in the new, anonymous session.
            messages.success(request, "Your account and everything in it were deleted.")
            return redirect("login")
    return _account_page(request, status=400, delete_form=form)


# Each attempt checks the password: the sign-in buckets count it (accounts/throttling.py).
delete_account = throttle_sign_in(_delete_account, throttles=ACCOUNT_DELETION_THROTTLES)


def _stats_context(request: HttpRequest) -> dict:
    """The stats section's numbers and chart (issue 15)."""
    stats = account_stats(user=request.user)
    return {"stats": stats, "charts": monthly_charts(stats)}


def _import_section(request: HttpRequest) -> dict:
    """/account/?import=<job id>: that import's outcome or progress (_account_import.html);
    an unknown or another user's id shows nothing."""
    job_id = request.GET.get("import")
    if not job_id:
        return {}
    try:
        return {"import_job": access.import_job_for(user=request.user, job_id=job_id)}
    except ImportJob.DoesNotExist:
        return {}


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
