"""The web pages: the customer site with its chat widget, and the staff console
(prompter, queues, trainer). Pages are Jinja2 templates rendered in a sandboxed,
autoescaping environment; their data comes from the staff API with the bearer
token the staff member signs in with (kept in the browser's sessionStorage)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Optional, Sequence
from urllib.parse import urlsplit

from jinja2 import FileSystemLoader, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from sanic import Blueprint, response
from sanic.request import Request
from sqlalchemy import select

from numi import auth
from numi.db import models as m
from numi.db.demo_history import PREFIX
from numi.reminders import dashboard
from numi.service.http import client_address, message, texts
from numi.settings import ROOT

TEMPLATES = ROOT / "templates" / "web"
STATIC = ROOT / "web" / "static"
NODE_MODULES = ROOT / "web" / "node_modules"
# The npm packages of web/package.json that the pages load, served from /static/vendor/<name>
# (no CDN); scripts/bootstrap.sh's web_deps checks that each one is installed.
VENDOR = {
    "socket.io.min.js": NODE_MODULES / "socket.io-client" / "dist" / "socket.io.min.js",
    "chart.umd.min.js": NODE_MODULES / "chart.js" / "dist" / "chart.umd.min.js",
}

bp = Blueprint("web")
bp.static("/static", str(STATIC), name="static")
LOOPBACK = ("127.0.0.1", "::1")
CONSOLE_PAGES = {"prompteur": "prompter", "files": "queues", "formation": "trainer", "client": "customer",
                 "tickets": "tickets", "ticket": "ticket"}
SITE_TEXTS = ("site", "chat")  # what the customer site's page and chat.js read of texts.yml
TICKET_PAGES = ("tickets", "ticket")  # they get the scenarios' titles and the reminder steps' labels


@lru_cache(maxsize=1)
def html_env() -> SandboxedEnvironment:
    return SandboxedEnvironment(loader=FileSystemLoader(str(TEMPLATES)),
                                autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def rasa_public_url(request: Request) -> str:
    """Where the browser reaches Rasa: configured, else the page's host on Rasa's port."""
    settings = request.app.ctx.settings
    if settings.rasa_public_url:
        return str(settings.rasa_public_url).rstrip("/")
    port = urlsplit(settings.rasa_url).port or 5005
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host.split("]")[0] + "]"
    return f"{request.scheme}://{host}:{port}"


def _page(request: Request, template: str, rasa: Optional[str] = None, shown: Optional[Sequence[str]] = None,
          **context: Any) -> response.HTTPResponse:
    """Render a page; `shown` names the parts of texts.yml its scripts get (all of them by default:
    the customer site gets only its own and the chat's, never the console's)."""
    every = texts()
    page_texts = every if shown is None else {part: every[part] for part in shown}
    body = html_env().get_template(template).render(texts=every, page_texts=page_texts, **context)
    connect = "'self'" + (f" {rasa} {rasa.replace('http', 'ws', 1)}" if rasa else "")
    headers = {
        "Content-Security-Policy": (f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                    f"connect-src {connect}; form-action 'self'; base-uri 'none'; "
                                    "frame-ancestors 'none'"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return response.html(body, headers=headers)


@bp.get("/")
async def site(request: Request) -> response.HTTPResponse:
    """numi's website, as a customer sees it, with the chat widget. In demo mode (NUMI_DEMO=1,
    and only for a browser on this machine) the site can sign in as a demo customer: the
    widget then carries their signed token, as the real website would after its own login."""
    settings = request.app.ctx.settings
    customer, token, demo_customers = None, None, []
    if settings.demo_login and client_address(request) in LOOPBACK:
        rows = request.ctx.db.scalars(select(m.Customer).where(m.Customer.erased_at.is_(None),
                                                               ~m.Customer.id.startswith(PREFIX))
                                      .order_by(m.Customer.id).limit(50))
        demo_customers = [{"id": c.id, "name": c.display_name} for c in rows]
        wanted = request.args.get("client")
        if wanted:
            customer = request.ctx.db.get(m.Customer, wanted)
            if customer is not None and customer.erased_at is None:
                token = auth.customer_token(customer.id, settings.secret)
            else:
                customer = None
    rasa = rasa_public_url(request)
    return _page(request, "site.html.j2", rasa=rasa, shown=SITE_TEXTS, rasa_url=rasa, customer=customer,
                 customer_token=token, demo_customers=demo_customers)


@bp.get("/static/vendor/<name>")
async def vendor_script(request: Request, name: str) -> response.HTTPResponse:
    """A front-end library of web/package.json (VENDOR), from web/node_modules."""
    path = VENDOR.get(name)
    if path is None:
        return response.text(message("not_found"), status=404)
    if not path.exists():
        return response.text(message("vendor_missing", name=path.relative_to(NODE_MODULES).parts[0]), status=404)
    file: response.HTTPResponse = await response.file(str(path), mime_type="application/javascript")
    return file


@bp.get("/console")
async def console_home(request: Request) -> response.HTTPResponse:
    return _page(request, "console.html.j2", page="home")


@bp.get("/console/<name>")
async def console_page(request: Request, name: str) -> response.HTTPResponse:
    page = CONSOLE_PAGES.get(name)
    if page is None:
        return response.html(f"<!doctype html><title>404</title><p>{message('page_not_found')}</p>", status=404)
    return _page(request, f"{page}.html.j2", page=page, page_data=_page_data(request, page))


def _page_data(request: Request, page: str) -> Dict[str, Any]:
    """What a page's script reads besides texts.yml: for the ticket pages, the scenarios' titles
    (the playbooks') and the reminder steps' labels (config/reminder_dashboard.yml)."""
    if page not in TICKET_PAGES:
        return {}
    library = request.app.ctx.services.library
    return {"scenarios": {pid: library[pid].title or pid for pid in sorted(library)},
            "reminder_steps": dict(dashboard.words()["steps"])}
