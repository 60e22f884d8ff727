"""Korean notice templates: sandboxed Jinja2, Korean filters, SMS/LMS sizing,
organisation overrides, samples, hot reload.

The interface the channel worker uses::

    store = TemplateStore(directory, orgs, extra_holidays=..., reload_interval=2.0)
    context = context_from_event(event, recipient, org_profile)
    rendered = store.render("case.received", "sms", "gumi", context)  # -> Rendered
    store.close()

See docs/templates.ko.md for template editors and docs/architecture.md.
"""

from hub.templates.context import context_from_event
from hub.templates.errors import TemplateBudgetError, TemplateError
from hub.templates.rendering import Rendered
from hub.templates.store import TemplateStore

__all__ = ["Rendered", "TemplateBudgetError", "TemplateError", "TemplateStore",
           "context_from_event"]
