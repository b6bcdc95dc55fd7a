"""Effects a playbook step can run, and the database-backed runner behind them.

* `registry`: `@effect`, `REGISTRY`, `check_params` (what each effect takes and gives);
* `env`: `EffectEnv`, the runner of the walker's effect protocol, and the template views;
* one module per domain: `tickets`, `identity`, `humans`, `customer_data`.

Parameters that are strings may be Jinja2 templates; they are rendered before the effect
runs. Importing this package registers every effect.
"""
from numi.playbooks.effects import customer_data, humans, identity, tickets
from numi.playbooks.effects.env import CustomerView, EffectEnv, OfficeView, TicketView
from numi.playbooks.effects.registry import REGISTRY, EffectSpec, check_params, effect

__all__ = ["REGISTRY", "EffectSpec", "check_params", "effect", "EffectEnv", "CustomerView", "TicketView",
           "OfficeView", "customer_data", "humans", "identity", "tickets"]
