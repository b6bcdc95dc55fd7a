"""Jinja2 rendering for playbooks, reminders and pages: sandboxed, strict.

Templates come from the repository only. User text is passed as *values* in the
context and is never compiled, so `{{7*7}}` typed by a customer stays literal.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from jinja2 import StrictUndefined
from jinja2.nodes import Template as TemplateNode
from jinja2.sandbox import SandboxedEnvironment

from numi.clock import date_fr, datetime_fr, short_date_fr


def _filters(env: SandboxedEnvironment) -> SandboxedEnvironment:
    env.filters["date_fr"] = date_fr
    env.filters["datetime_fr"] = datetime_fr
    env.filters["short_date_fr"] = short_date_fr
    env.filters["first_name"] = lambda c: (getattr(c, "first_name", None) or "") if c else ""
    return env


@lru_cache(maxsize=1)
def text_env() -> SandboxedEnvironment:
    """Plain-text output (chat messages, e-mails in text/plain)."""
    return _filters(SandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                         keep_trailing_newline=False, trim_blocks=True,
                                         lstrip_blocks=True))


@lru_cache(maxsize=1)
def html_env() -> SandboxedEnvironment:
    """HTML output: autoescaped."""
    return _filters(SandboxedEnvironment(undefined=StrictUndefined, autoescape=True,
                                         trim_blocks=True, lstrip_blocks=True))


@lru_cache(maxsize=4096)
def compile_text(source: str):
    return text_env().from_string(source)


@lru_cache(maxsize=4096)
def compile_expression(source: str):
    """A playbook condition (`next: [{when: …}]`), compiled once."""
    return text_env().compile_expression(source, undefined_to_none=False)


def parse(source: str) -> TemplateNode:
    return text_env().parse(source)


def render_text(source: str, context: Mapping[str, Any]) -> str:
    """Render a repository template over `context` (StrictUndefined)."""
    return compile_text(source).render(**context).strip()
