"""Issue 18: conversations a customer would recommend, one test conversation per point."""
from sqlalchemy import select

from numi.db import models as m
from tests.test_walker import Conversation


async def test_a_bare_address_typed_when_asked_is_the_answer_whatever_the_intent(db):
    conv = Conversation(db)
    await conv.say("je veux supprimer mon compte et mes données", "request_account_deletion")
    assert conv.frame["step"] == "demander_email"
    await conv.say("paul.martin@example.fr", "goodbye", confidence=0.93)
    assert conv.frame is not None and conv.frame["step"] != "demander_email"
    assert db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.kind == "otp")).first() is not None


PAUL = {"numi": {"mode": "customer", "customer_id": "CLT-00321"}}


async def test_a_callback_request_is_not_asked_again_what_its_opening_said(db):
    conv = Conversation(db, sender="cb-anon")
    await conv.say("Bonjour, pourriez-vous me rappeler jeudi à 14h au 06 12 34 56 78 ? "
                   "Mon imprimante ne veut plus rien savoir.", "request_callback")
    said = conv.texts
    assert "objet" not in said and "quel numéro" not in said.lower() and "Quel jour" not in said
    frame = conv.frame
    slots = frame["slots"] if frame else {}
    ticket = db.scalars(select(m.Ticket).where(m.Ticket.conversation_id == "cb-anon")).one()
    notes = " ".join(str(h.details) for h in ticket.history)
    assert "Mon imprimante ne veut plus rien savoir" in said + notes + str(slots)
    assert "bonjour" not in (slots.get("objet") or "").lower()
    assert "06 12 34 56 78" in said + notes + str(slots)


async def test_the_subject_alone_is_asked_when_the_opening_gave_only_the_slot(db):
    conv = Conversation(db, sender="cb-paul", metadata=PAUL)
    await conv.say("rappelez-moi demain à 10h svp", "request_callback")
    assert conv.frame["step"] == "objet"
    await conv.say("ma box redémarre sans arrêt", "inform")
    assert "Quel jour" not in conv.texts


async def test_a_refund_reason_given_in_the_opening_is_not_asked_with_buttons(db):
    conv = Conversation(db, sender="refund-1", metadata=PAUL)
    await conv.say("j'ai été prélevé deux fois ce mois-ci, je veux être remboursé", "request_refund")
    assert conv.frame["step"] == "details_facturation"
    assert conv.frame["slots"]["motif"] == "erreur de facturation"
    assert "raison principale" not in conv.texts


async def test_invoices_of_a_year_a_range_or_all_of_them(db):
    conv = Conversation(db, sender="inv-year", metadata=PAUL)
    await conv.say("je voudrais les factures de l'année 2026", "request_invoice")
    invoices = conv.frame["slots"].get("invoices") or []
    assert "Pour quelle période" not in conv.texts
    assert len(invoices) == 6 and all(i["period"].startswith("2026-") for i in invoices)
    conv = Conversation(db, sender="inv-range", metadata=PAUL)
    await conv.say("il me faut une facture", "request_invoice")
    assert conv.frame["step"] == "periode"
    await conv.say("de septembre à novembre", "inform")
    assert sorted(i["period"] for i in conv.frame["slots"]["invoices"]) == ["2026-09", "2026-10", "2026-11"]
    conv = Conversation(db, sender="inv-all", metadata=PAUL)
    await conv.say("il me faut une facture", "request_invoice")
    await conv.say("toutes", "inform")
    assert len(conv.frame["slots"]["invoices"]) == 6


async def test_a_workshop_registration_and_a_certificate_request_open_a_normal_ticket(db):
    conv = Conversation(db, sender="ws-1", metadata=PAUL)
    await conv.say("je voudrais m'inscrire à un atelier", "ask_workshop")
    await conv.say("gérer mes e-mails et le spam", "inform")
    assert conv.frame["step"] == "liste"
    await conv.say("1", "inform")
    assert "inscription à l'atelier" in conv.texts
    ticket = db.scalars(select(m.Ticket).where(m.Ticket.conversation_id == "ws-1")).one()
    assert (ticket.scenario, ticket.priority) == ("workshop_opportunity", "normal") and ticket.ref in conv.texts
    conv = Conversation(db, sender="cert-1", metadata=PAUL)
    await conv.say("il me faut mon attestation de participation", "request_certificate")
    ticket = db.scalars(select(m.Ticket).where(m.Ticket.conversation_id == "cert-1")).one()
    assert (ticket.scenario, ticket.priority) == ("workshop_certificate", "normal")


async def test_a_follow_up_on_an_unknown_number_says_so_and_offers_the_customers_tickets(db):
    conv = Conversation(db, sender="fu-1", metadata=PAUL)
    await conv.say("où en est mon ticket TK-09876 ?", "check_ticket_status",
                   entities=[{"entity": "ticket_id", "value": "TK-09876"}])
    assert "Quel est le numéro de votre ticket" not in conv.texts
    assert "Je ne trouve pas ce numéro parmi vos demandes" in conv.texts
    assert "Voir mes demandes" in str(conv.bot)
    assert db.scalars(select(m.Ticket).where(m.Ticket.conversation_id == "fu-1")).first() is None


async def test_no_parroting_of_the_customers_words_and_no_apology_for_a_pause(db):
    conv = Conversation(db, sender="angry-1", metadata=PAUL)
    await conv.say("j'en ai marre, je vais résilier", "threaten_churn")
    cause = "le technicien est venu trois fois et mon ordinateur plante toujours au démarrage depuis un mois"
    await conv.say(cause, "complain", confidence=0.5)
    assert cause not in conv.texts and "Si je comprends bien" not in conv.texts
    ticket = db.scalars(select(m.Ticket).where(m.Ticket.conversation_id == "angry-1")).one()
    assert cause in str(ticket.data) + " ".join(str(h.details) for h in ticket.history)  # kept word for word
    conv = Conversation(db, sender="pause-1", metadata=PAUL)
    await conv.say("je voudrais mettre en pause mon contrat signé le mois dernier", "request_suspension")
    assert "désolé" not in conv.texts and "pas à la hauteur" not in conv.texts


async def test_a_code_that_does_not_arrive_gets_help_a_limited_resend_and_no_account_oracle(db):
    texts = {}
    for sender, address in (("otp-known", "paul.martin@example.fr"), ("otp-unknown", "personne@example.org")):
        conv = Conversation(db, sender=sender)
        await conv.say("je veux supprimer mon compte", "request_account_deletion")
        await conv.say(address, "inform")
        await conv.say("je n'ai reçu aucun code", "deny", confidence=0.6)
        assert "courriers indésirables" in conv.texts and "6 chiffres" not in conv.texts
        assert {b["title"] for b in conv.bot[-1].get("buttons", [])} >= {"Renvoyer le code", "Une autre adresse",
                                                                          "Parler à un conseiller"}
        said = [conv.texts]
        for _ in range(3):
            await conv.say("Renvoyer le code", "affirm")
            said.append(conv.texts)
            if "Plusieurs codes" not in conv.texts:
                await conv.say("toujours rien reçu", "deny", confidence=0.6)
        texts[sender] = said
        assert "Plusieurs codes ont déjà été envoyés" in said[-1]  # the fourth code is not sent
    sent = db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.kind == "otp")).all()
    assert len(sent) == 3 and {o.recipient for o in sent} == {"paul.martin@example.fr"}
    assert texts["otp-known"] == texts["otp-unknown"]  # the same words, account or not


async def test_a_descriptive_answer_is_an_answer_not_a_second_request(db):
    conv = Conversation(db, sender="refund-free", metadata=PAUL)
    await conv.say("je voudrais un remboursement", "request_refund")
    await conv.say("Erreur de facturation", "inform")
    assert conv.frame["step"] == "details_facturation"
    await conv.say("sur votre site la page des factures affiche un montant faux et le bouton payer plante",
                   "report_bug", confidence=0.9)
    assert "c'est votre réponse à ma question" in conv.texts
    await conv.say("C'est ma réponse", "inform")
    state = conv.slots["pb_state"]
    assert state["queue"] == [] and all(f["id"] == "refund_request" for f in state["stack"])
    assert "bug" not in conv.texts.lower()
    tickets = db.scalars(select(m.Ticket).where(m.Ticket.conversation_id == "refund-free")).all()
    assert [t.scenario for t in tickets] == ["refund_request"]
    assert "le bouton payer plante" in str(tickets[0].data) + " ".join(str(h.details) for h in tickets[0].history)


def test_what_an_opening_already_names_for_the_steps_with_prefill():
    from numi.playbooks import values

    report = ("depuis ce matin 9h, erreur 500 dans l'espace client, rubrique Factures. "
              "Je suis sur Chrome, PC Windows 11.")
    assert values.named("place", report) == "espace client, rubrique Factures"
    assert values.named("since", report) == "depuis ce matin 9h"
    assert values.named("device", report) == "Chrome, PC, Windows 11"
    assert values.named("since", "ça plante depuis 3 jours") == "depuis 3 jours"
    assert values.about("un atelier pour apprendre à classer mes photos") == "apprendre à classer mes photos"
    assert values.about("l'attestation de l'atelier « Sécuriser ses comptes »") == "Sécuriser ses comptes"
    assert values.about("je veux m'inscrire à un atelier") is None
    assert values.remainder("Rappelez-moi jeudi à 14h au 06 12 34 56 78, mon imprimante ne marche plus") == \
        "mon imprimante ne marche plus"
    assert values.remainder("rappelez-moi svp") is None


async def test_a_prefilled_step_still_says_what_matters(db):
    conv = Conversation(db, sender="sec-pre", metadata=PAUL)
    await conv.say("au secours mon compte a été piraté, quelqu'un envoie des messages en mon nom",
                   "report_security_incident")
    assert "De quel type d'incident" not in conv.texts
    assert "ne vous demandera jamais votre mot de passe" in conv.texts
    conv = Conversation(db, sender="oos-pre")
    await conv.say("pouvez-vous me réserver un billet de train pour Lyon ?", "out_of_scope")
    assert "ne relève pas de numi" in conv.texts and "de quoi s'agit-il" not in conv.texts
