"""The errors the template system raises: :class:`TemplateError` and its subclass for
a render over budget. ``code`` is the reason code a notice is parked under."""

from __future__ import annotations


class TemplateError(Exception):
    """A notice could not be rendered (or a template could not be loaded).

    ``reason`` is one line for operators (no personal data: it names variables,
    never their values); ``template`` the template's path relative to the
    templates folder, e.g. ``case.received/sms.j2``.
    """

    code = "template_error"

    def __init__(self, reason: str, template: str = "") -> None:
        self.reason = " ".join(str(reason).split()) or "unknown template error"
        self.template = template
        super().__init__(f"{template}: {self.reason}" if template else self.reason)


class TemplateBudgetError(TemplateError):
    """The render went over its budget (time, loop steps, output or value size): the
    template runs away for this notice. See :mod:`hub.templates.budget`."""

    code = "template_budget"
