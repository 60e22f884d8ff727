"""알림 스튜디오: the web app for template editors and staff (``minwon-hub studio``).

Server-rendered Korean pages (Starlette + Jinja2, a little plain JavaScript for the
live preview), sharing the hub's configuration, ledger database and template checks:

* :mod:`hub.studio.accounts`: local accounts, roles, password hashing (argon2);
* :mod:`hub.studio.audit`: the audit log of every action;
* :mod:`hub.studio.security`: CSRF tokens and the sign-in rate limit;
* :mod:`hub.templates.korean`: Korean twins of the template checker's messages;
* :mod:`hub.studio.preview`: the editor's check, preview and byte counter;
* :mod:`hub.studio.app`: the routes; :mod:`hub.studio.cli`: the commands.

See docs/studio.md (Korean, for editors and staff).
"""
