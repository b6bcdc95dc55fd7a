"""The sentences numi's Python shows to people, looked up by key in templates/web/texts.yml:
Python carries identifiers (an error code, a text's key), never French prose
(tests/test_no_prose_in_code.py). What the bot and the prompter say is playbooks/_system.yml's
(`Library.system_text`), e-mails are templates/mail/'s.

* `api_error(code, **values)`: the API's refusals (`api_errors`, str.format placeholders, as
  numi/service/http.py's `message()`);
* `Refusal(code, http_status, **values)`: a domain error that carries its code; `str()` is the
  sentence, looked up when it is shown (the API's answer, a log, a test's `match=`);
* `text("section.key", **values)`: any other sentence (ticket history, the admin command line,
  operator e-mails), a Jinja2 template rendered sandboxed (numi/playbooks/render.py)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict

import yaml

from numi.playbooks.render import render_text

# numi.settings.ROOT / templates/web/texts.yml (numi.settings words its own errors here: no import of it)
TEXTS = Path(__file__).resolve().parent.parent / "templates" / "web" / "texts.yml"


@lru_cache(maxsize=1)
def texts() -> Dict[str, Any]:
    """templates/web/texts.yml, read once."""
    loaded: Dict[str, Any] = yaml.safe_load(TEXTS.read_text(encoding="utf-8"))
    return loaded


def api_error(code: str, **values: Any) -> str:
    return str(texts()["api_errors"][code].format(**values))


def text(key: str, **values: Any) -> str:
    """The text at the dotted `key` of texts.yml, rendered over `values`."""
    node: Any = texts()
    for part in key.split("."):
        node = node[part]
    return render_text(str(node), values)


class Refusal(ValueError):
    """A refusal whose words are texts.yml's `api_errors[code]` over `values`; `status` is the
    HTTP status the API answers with (`default_status` unless given)."""

    default_status = 400

    def __init__(self, code: str, http_status: int = 0, **values: Any) -> None:
        super().__init__(code)
        self.code, self.values = code, values
        self.status = http_status or self.default_status

    def __str__(self) -> str:
        return api_error(self.code, **self.values)
