"""Write tests/stories/playbooks.yml: each playbook opened by each of its intents and walked
to its end, in customer mode (the customer's words) and agent-assist mode (what a hotliner
types while on the phone). `rasa test core` checks the dialogue routing; pytest
(tests/test_playbooks_walk.py) checks every step and template of every playbook.

    .venv/bin/python scripts/gen_test_stories.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from numi.playbooks.library import load_library  # noqa: E402

# One customer phrase and one hotliner phrase per intent (not in the NLU training data).
PHRASES = {
    "complain": ("franchement je ne suis pas satisfait de la dernière intervention",
                 "le client dit qu'il n'est pas satisfait de l'intervention d'hier"),
    "threaten_churn": ("j'en ai ras le bol, je vais résilier mon abonnement", "client furieux, il menace de résilier"),
    "report_security_incident": ("quelqu'un s'est connecté à ma messagerie depuis l'étranger",
                                 "la cliente pense que sa boîte mail a été piratée"),
    "request_invoice": ("il me faudrait la facture du mois dernier", "le client demande une copie de sa facture"),
    "request_account_deletion": ("je veux que vous effaciez mon compte et mes données",
                                 "la cliente veut supprimer son compte et ses données"),
    "request_supervisor": ("passez-moi votre responsable", "le client exige de parler à un responsable"),
    "report_bug": ("votre site affiche une erreur quand je veux réserver un atelier",
                   "le client signale un bug sur la page de réservation"),
    "request_tech_support": ("mon imprimante ne veut plus imprimer", "sa box wifi se déconnecte tout le temps"),
    "ask_workshop": ("avez-vous des ateliers pour apprendre à utiliser une tablette ?",
                     "la cliente voudrait s'inscrire à un atelier"),
    "request_refund": ("je voudrais être remboursé, je n'ai pas utilisé le service",
                       "le client demande un remboursement de son abonnement"),
    "ask_upgrade": ("je suis intéressé par votre offre premium", "le client veut des infos sur l'offre entreprise"),
    "request_certificate": ("il me faut une attestation de participation à l'atelier",
                            "la cliente demande un certificat pour l'atelier de mars"),
    "out_of_scope": ("quel temps fera-t-il demain à Lyon ?", "le client veut réserver un billet de train"),
    "ask_referral": ("je voudrais parrainer ma sœur", "le client veut recommander numi à un ami"),
    "update_personal_data": ("j'ai changé de numéro de téléphone", "la cliente a une nouvelle adresse e-mail"),
    "praise": ("vous êtes vraiment géniaux, merci pour tout", "le client est ravi et remercie toute l'équipe"),
    "request_human": ("je veux parler à un conseiller", "le client veut parler à quelqu'un"),
    "request_suspension": ("nous venons de signer le devis mais voulons tout mettre en pause",
                           "le client veut suspendre ses services deux mois après la signature du devis"),
    "request_callback": ("pouvez-vous me rappeler demain matin ?", "la cliente veut être rappelée jeudi vers 14h"),
    "check_ticket_status": ("où en est mon ticket TK-00456 ?", "le client demande où en est sa demande"),
    "reopen_ticket": ("vous avez fermé mon ticket mais le problème est revenu",
                      "le client veut rouvrir son ticket clôturé"),
    "confirm_resolved": ("c'est bon, tout fonctionne maintenant", "le client confirme que c'est réglé"),
    "still_broken": ("ça ne marche toujours pas", "le problème est toujours là d'après la cliente"),
    "no_time_yet": ("je n'ai pas encore eu le temps de tester", "le client n'a pas eu le temps d'essayer"),
}


def story(name: str, intent: str, text: str, end_at_once: bool) -> dict:
    steps = [{"user": text, "intent": intent}, {"action": "action_start_playbook"}, {"action": "playbook_form"}]
    if end_at_once:
        steps += [{"active_loop": None}, {"slot_was_set": [{"requested_slot": None}]},
                  {"action": "action_finish_playbook"}]
    else:
        steps += [{"active_loop": "playbook_form"},
                  {"user": "d'accord", "intent": "affirm"}, {"action": "playbook_form"},
                  {"active_loop": None}, {"slot_was_set": [{"requested_slot": None}]},
                  {"action": "action_finish_playbook"}]
    return {"story": name, "steps": steps}


def main() -> None:
    lib = load_library(ROOT / "playbooks")
    stories = []
    for pb in lib.values():
        for intent in [*pb.triggers, *pb.entry]:
            if intent.startswith("EXTERNAL_"):
                continue
            customer, agent = PHRASES[intent]
            stories.append(story(f"{pb.id} via {intent} (client)", intent, customer, False))
            stories.append(story(f"{pb.id} via {intent} (assistance hotliner)", intent, agent, False))
    out = ROOT / "tests" / "stories" / "playbooks.yml"
    header = "# Generated by scripts/gen_test_stories.py from playbooks/: do not edit by hand.\n"
    out.write_text(header + yaml.safe_dump({"version": "3.1", "stories": stories}, allow_unicode=True,
                                           sort_keys=False, width=120), encoding="utf-8")
    print(f"{len(stories)} stories → {out}")


if __name__ == "__main__":
    main()
