"""Routes of the memory page (UI.md: /memory/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.memory_list, name="memory"),
    path("add/", views.add, name="memory_add"),
    path("switch/", views.switch, name="memory_switch"),
    path("<uuid:item_id>/edit/", views.edit, name="memory_edit"),
    path("<uuid:item_id>/delete/", views.delete, name="memory_delete"),
]
