"""Numina: every AI-chat conversation a user has, kept for good."""

from .celery import app as celery_app

__all__ = ("celery_app",)
