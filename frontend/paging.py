"""Paging of the participant pages' lists."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.http import HttpRequest


def page_of(request: HttpRequest, qs, per_page: int = 25) -> Page:
    """The page of ``qs`` the request asks for (``?page=``; the first or last if out of range)."""
    return Paginator(qs, per_page).get_page(request.GET.get("page"))
