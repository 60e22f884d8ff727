"""The errors the template system raises: :class:`TemplateError` and its subclasses,
whose ``code`` is the reason code a notice is parked under (a render over budget, an
organisation not configured, a fact the notice needs missing)."""

from __future__ import annotations


class TemplateError(Exception):
    """A notice could not be rendered (or a template could not be loaded).

    ``reason`` is one line for operators (no personal data: it names variables,
    never their values); ``template`` the template's path relative to the
    templates folder, e.g. ``case.received/sms.j2``. ``code`` is the reason
    code a notice that fails with it is parked with.
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


class OrgNotConfigured(TemplateError):
    """The event names an organisation the configuration has no profile for:
    no notice goes out under a made-up name or contact."""

    code = "org_not_configured"


class MissingFact(TemplateError):
    """A notice needs a fact that neither the event nor the organisation's
    profile gives (the call centre's number, the internal contact): it is parked
    rather than sent with a hole or a placeholder in it."""

    code = "missing_fact"
