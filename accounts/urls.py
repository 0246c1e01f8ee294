from django.contrib.auth import views as auth_views
from django.urls import path

from . import views
from .throttling import throttle_sign_in

urlpatterns = [
    path(
        "login/",
        throttle_sign_in(
            auth_views.LoginView.as_view(
                template_name="accounts/login.html", redirect_authenticated_user=True
            )
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", throttle_sign_in(views.signup), name="signup"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("devices/sign-out-all/", views.sign_out_all_devices, name="devices_sign_out_all"),
    path("devices/<str:device_id>/revoke/", views.revoke_device, name="device_revoke"),
]
