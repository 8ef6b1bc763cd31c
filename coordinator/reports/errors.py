"""What the reports refuse, each a `DomainError` the app's one handler answers, and the one
thing that stops them on a machine set up wrong (`FontMissing`)."""

from __future__ import annotations

from coordinator.errors import DomainError


class ForecastEditRefused(DomainError):
    """An edit of next season's forecast names a station or a day outside its rush."""

    status = 422
    code = "forecast_edit_refused"


class SuggestionRefused(DomainError):
    """A playbook suggestion to accept that the incident's report does not make."""

    status = 422
    code = "suggestion_refused"


class FontMissing(RuntimeError):
    """The report font (NUANLIU_REPORT_FONT) is not installed: a PDF without it would print
    every Chinese character as an empty box, so none is made. Not a `DomainError` (the
    request is fine, the machine is not): the app answers it 503."""

    code = "report_font_missing"
