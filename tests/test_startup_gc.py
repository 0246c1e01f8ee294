"""The web's processes freeze what they loaded at start (numina/startup.py): a full
garbage collection then walks only what the requests made since, not the objects of
Django, the libraries and every view module, which live as long as the process."""

import os

import pytest

from tests.test_settings import run_django_setup

# In a fresh process: what is frozen and what the collector still tracks, after ``load``.
MEASURE = (
    "{load}\n"
    "import gc, sys\n"
    "print(gc.get_freeze_count(), len(gc.get_objects()),"
    " 'conversations.api.views' in sys.modules)\n"
)


def _frozen_and_tracked(load: str) -> tuple[int, int, bool]:
    result = run_django_setup(
        MEASURE.format(load=load), SECRET_KEY=os.environ["SECRET_KEY"], DEBUG="false"
    )
    assert result.returncode == 0, result.stderr
    frozen, tracked, views_loaded = result.stdout.split()
    return int(frozen), int(tracked), views_loaded == "True"


@pytest.mark.parametrize("entry_point", ["numina.asgi", "numina.wsgi"])
def test_the_web_entry_points_freeze_what_the_start_loaded(entry_point):
    frozen, tracked, views_loaded = _frozen_and_tracked(f"import {entry_point}")

    # The views were imported at start (not by the first request), so they are frozen
    # with the rest: what a full collection still walks is a small part of the process.
    assert views_loaded
    assert frozen > 10 * tracked, (frozen, tracked)


def test_without_the_entry_point_nothing_is_frozen():
    # The measure can fail: Django alone, as a management command loads it, freezes nothing.
    frozen, tracked, _ = _frozen_and_tracked("import django; django.setup()")

    assert frozen == 0
    assert tracked > 10_000
