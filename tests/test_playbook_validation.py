"""Validation rejects bad playbooks with an error naming the file and the step."""
from pathlib import Path

import pytest

from numi.playbooks.library import load_library
from numi.playbooks.model import PlaybookError, load_playbook
from numi.playbooks.validate import contract_intents, validate_against_contract, validate_playbook

ROOT = Path(__file__).resolve().parent.parent
INTENTS = contract_intents(ROOT.parent / "shared" / "contract") | {"stop", "ask_capabilities"}

GOOD = """
id: {id}
title: Test
triggers: [request_refund]
steps:
  debut:
    say: "Bonjour{{% if customer.first_name %}} {{{{ customer.first_name }}}}{{% endif %}}, pourquoi ?"
    collect: {{slot: raison, type: text}}
    next: fin
  fin:
    say: "Merci : {{{{ slots.raison }}}}"
    next: end
"""


def write(tmp_path, text, name="refund_request"):
    path = tmp_path / f"{name}.yml"
    path.write_text(text, encoding="utf-8")
    return path


def check(tmp_path, text, name="refund_request"):
    validate_playbook(load_playbook(write(tmp_path, text, name)), INTENTS)


def test_a_good_playbook_passes(tmp_path):
    check(tmp_path, GOOD.format(id="refund_request"))


@pytest.mark.parametrize("mutation,message", [
    (lambda s: s.replace("    next: fin\n", "    next: fin\n    couleur: bleu\n"),
     "étape « debut »: clé(s) inconnue(s) ['couleur']"),
    (lambda s: s.replace("next: fin", "next: nulle_part"),
     "étape « debut »: « next » mène à une étape inexistante « nulle_part »"),
    (lambda s: s + "  orpheline:\n    say: seule\n    next: end\n", "étape « orpheline »: étape inatteignable"),
    (lambda s: s.replace("{{ slots.raison }}", "{{ slots.montant }}"), "slots.montant n'est pas connu"),
    (lambda s: s.replace("{{ slots.raison }}", "{{ ticket.id }}"), "« ticket » utilisé avant qu'un ticket soit ouvert"),
    (lambda s: s.replace("{{ slots.raison }}", "{{ banque }}"), "variable(s) inconnue(s) ['banque']"),
    (lambda s: s.replace("    next: end\n", ""), "étape « fin »: étape sans suite"),
    (lambda s: s.replace("triggers: [request_refund]", "triggers: [demande_argent]"), "n'est pas un intent du contrat"),
    (lambda s: s.replace("Merci :", "Vous serez remboursé sous 5 jours :"), "promettre un montant ou une date"),
    (lambda s: s.replace("pourquoi ?", "pouvez-vous me donner votre mot de passe ?"), "demander un mot de passe"),
    (lambda s: s.replace("{slot: raison, type: text}", "{slot: mot_de_passe, type: text}"), "est interdit (secret)"),
    (lambda s: s.replace("{{ slots.raison }}", "{{ slots.raison"), "gabarit Jinja2 invalide"),
])
def test_errors_name_the_file_and_the_step(tmp_path, mutation, message):
    with pytest.raises(PlaybookError) as exc:
        check(tmp_path, mutation(GOOD.format(id="refund_request")))
    assert "refund_request.yml" in str(exc.value) and message in str(exc.value)


def test_a_warning_against_asking_for_a_password_is_allowed(tmp_path):
    check(tmp_path, GOOD.format(id="refund_request").replace(
        "pourquoi ?", "ne communiquez jamais votre mot de passe. Pourquoi ?"))


def test_a_slot_collected_on_one_branch_only_is_refused_unless_get(tmp_path):
    text = """
id: refund_request
title: T
steps:
  a:
    choices:
      - {label: Un, next: b}
      - {label: Deux, next: c}
  b:
    collect: {slot: x, type: text}
    next: c
  c:
    say: "{{ slots.x }}"
    next: end
"""
    with pytest.raises(PlaybookError, match="slots.x n'est pas connu à cette étape sur tous les chemins"):
        check(tmp_path, text)
    check(tmp_path, text.replace("{{ slots.x }}", "{{ slots.get('x') or '' }}"))


def test_a_contract_scenario_without_playbook_is_an_error(tmp_path):
    (tmp_path / "refund_request.yml").write_text(GOOD.format(id="refund_request"), encoding="utf-8")
    lib = load_library(tmp_path, intents=INTENTS)
    with pytest.raises(PlaybookError, match="scénario\\(s\\) du contrat sans playbook"):
        validate_against_contract(lib, ROOT.parent / "shared" / "contract")


def test_the_cli_prints_a_trainers_script(capsys):
    from numi.playbooks.cli import main

    assert main(["show", "early_suspension"]) == 0
    out = capsys.readouterr().out
    assert "INCOMPRÉHENSION" in out.upper() and "À dire" in out and "Pas de promesse de date" in out
    assert main(["lint"]) == 0
