"""Issue 10 §5: opt-outs in plain words (FCC 24-24 "any reasonable means"), English and Spanish.

Each phrasing below is the whole text a patient sent, in the forms people really type them: casing,
punctuation, emoji, typos, missing or curly apostrophes, accents present or dropped.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.appointments.reply_parsing import classify_reply
from shared.core.models import InboundKind
from shared.core.segments import is_gsm7
from shared.inbound import revocation
from shared.inbound.keywords import classify_keyword
from shared.inbound.revocation import Verdict, classify_revocation, normalize
from shared.templates.replies import ReplyBook

R, U, N = Verdict.REVOKE, Verdict.UNCLEAR, Verdict.NOT_REVOCATION

REVOKE_EN = [
    "please stop texting me",
    "Stop texting me",
    "STOP TEXTING ME!!!",
    "stop texting me please 🙏",
    "Pls stop txting me",
    "stp texting me",
    "Please stop sending me these texts.",
    "stop sending me messages",
    "Stop sending reminders",
    "stop all the texts",
    "Stop the messages please",
    "stop these stupid reminders",
    "quit texting me",
    "Quit sending me stuff, quit messaging me",
    "end all messages",
    "end these texts",
    "Cease all text messages",
    "stop contacting me",
    "stop bothering me",
    "stop spamming me 😡",
    "I want to stop receiving texts",
    "how do I stop getting these texts?",
    "unsubscribe me",
    "Unsubscribe me please",
    "pls unsub",
    "i want to unsubscribe",
    "Unsubcribe",
    "unsubscribe from this list",
    "opt me out",
    "I would like to opt out of texts",
    "opt-out please",
    "I revoke my consent",
    "I withdraw my consent to be texted",
    "revoke permission",
    "no more texts",
    "No more text messages please",
    "NO MORE REMINDERS",
    "no texts please",
    "Enough with the texts",
    "take me off your list",
    "Take me off the list please",
    "remove me from your list",
    "Remove my number",
    "please delete my number",
    "get me off this list",
    "put me on your do not text list",
    "dont text me anymore",
    "Don’t text me anymore",
    "don't text me",
    "do not text me again",
    "Never text me again",
    "dont message me",
    "do not contact me",
    "don't send me any more texts",
    "I don't want these texts",
    "i dont want any more messages",
    "I do not wish to receive text messages",
    "I no longer want to receive reminders",
    "I don't want you to text me",
    "I dont need these reminders anymore",
    "I want the texts to stop",
    "make the messages stop",
    "why won't you stop texting me",
    "Why dont you stop texting me",
    "you wont stop texting me!!",
    "the texts won't stop, please stop",
    "these messages keep coming, enough",
    "leave me alone",
    "Leave me alone!!!",
    "lose my number",
    "wrong number",
    "Wrong number, please stop",
    "You have the wrong person",
    "this is not my number",
    "I'm not your patient",
    "stop please",
    "Please stop.",
    "STOP STOP STOP",
    "stop now",
    "ok stop",
    "Stop, thank you",
    "stop!!!! 🛑",
    "quit please",
    "cancel my subscription",
    "Cancel these texts",
    "cancel all messages",
    "turn off these notifications",
    "put an end to these texts",
    "STOPP",
    "Stop sending me text messages about appointments",
    "no more texts. I'll call to cancel my appointment",
    "cancel my appointment and stop texting me",
    "don't call me, just stop texting me",
]

REVOKE_ES = [
    "no me manden mas mensajes",
    "No me manden más mensajes",
    "no me envíen más mensajes por favor",
    "no me escriban",
    "no me vuelvan a escribir",
    "ya no quiero recibir mensajes",
    "Ya no quiero recibir mensajes 🙏",
    "no quiero mas mensajes",
    "No quiero recibir más textos",
    "no quiero que me manden mensajes",
    "no necesito recordatorios",
    "dejen de mandarme mensajes",
    "Dejen de escribirme",
    "deje de enviarme mensajes por favor",
    "paren de mandar mensajes",
    "para de enviarme mensajes",
    "baja",
    "BAJA",
    "Baja por favor",
    "darme de baja",
    "quiero darme de baja",
    "denme de baja de los mensajes",
    "cancelar suscripcion",
    "Cancelar suscripción",
    "cancelar los mensajes",
    "cancelar",
    "alto",
    "ALTO!",
    "parar",
    "detener mensajes",
    "no mas mensajes",
    "No más mensajes!!",
    "nada de mensajes",
    "quítenme de la lista",
    "sáquenme de su lista",
    "eliminen mi número",
    "borren mi numero por favor",
    "revoco mi consentimiento",
    "numero equivocado",
    "Número equivocado",
    "déjenme en paz",
    "no me molesten mas",
    "desuscribirme",
    "no me contacten",
]

UNCLEAR_EN = [
    "stop it",
    "Stop it!",
    "STOP!!! who is this",
    "stop this",
    "end this",
    "End it",
    "quit it",
    "cancel please",
    "Cancel pls",
    "I need to cancel",
    "can I cancel?",
    "I have to cancel, sorry",
    "cancel it",
    "revoke it",
    "🛑",
    "🛑🛑",
    "✋",
    "no more",
    "enough!",
    "make it stop",
    "I need this to stop",
    "you keep texting me",
    "cancel my appointment reminders",
    "Stop, I need to cancel my appointment",
    "i dont want this anymore",
    "stop calling me",
]

UNCLEAR_ES = [
    "para",
    "Para ya",
    "basta",
    "¡Basta ya!",
    "cancelar por favor",
    "quiero cancelar",
    "paren",
]

NOT_REVOCATION_EN = [
    "can I cancel and rebook?",
    "I need to cancel my appointment",
    "cancel my appt for tuesday",
    "Cancel my appointment",
    "I have to cancel tomorrow",
    "can i cancel for monday and come in next week?",
    "need to cancel at 3, can we do another time",
    "I'd like to cancel and reschedule",
    "stop by the office",
    "Can I stop by the office to drop off forms?",
    "I'll stop in at 3",
    "the pain won't stop",
    "My nose won't stop bleeding",
    "I can't stop coughing, should I come in?",
    "should I stop taking my meds before the procedure?",
    "When do I stop eating before surgery?",
    "can't make it, please reschedule",
    "don't stop texting me",
    "Don't stop texting me, I like the reminders",
    "please don't unsubscribe me",
    "I don't want to stop getting texts",
    "no, don't cancel my texts",
    "I don't want the texts to stop",
    "keep texting me",
    "Keep the reminders coming!",
    "I'm not trying to unsubscribe",
    "take me off the waitlist",
    "Please remove me from the waiting list",
    "Is the end of the day ok?",
    "I'll be there at the end of my shift",
    "I quit smoking last month",
    "I want to end it all",
    "cancel my uber, running late",
    "yes",
    "C",
    "Yes I'll be there",
    "see you then 👍",
    "no",
    "I won't be there",
    "what's the address?",
    "Is there parking near the clinic?",
    "who is this?",
    "thanks!",
    "",
    "   ",
    "😊",
    "don't text me the address, email it",
    "text me when the doctor is ready",
]

NOT_REVOCATION_ES = [
    "quiero cancelar mi cita",
    "Necesito cancelar la cita del martes",
    "puedo cancelar y reprogramar?",
    "cancelar cita",
    "para mañana a las 3?",
    "tengo la presión baja",
    "el dolor no para",
    "sí, ahí estaré",
    "no quiero darme de baja",
    "sigan mandando los recordatorios",
    "no quiero dejar de recibir mensajes",
    "gracias",
    "voy a pasar por la oficina",
    "mi azucar esta alta",
]

TABLE = (
    [(b, R, "en") for b in REVOKE_EN]
    + [(b, R, "es") for b in REVOKE_ES]
    + [(b, U, None) for b in UNCLEAR_EN + UNCLEAR_ES]
    + [(b, N, None) for b in NOT_REVOCATION_EN + NOT_REVOCATION_ES]
)


def test_the_table_is_real_world_sized_both_ways():
    assert len(TABLE) >= 100
    assert len(REVOKE_EN + REVOKE_ES) >= 100
    assert len(NOT_REVOCATION_EN + NOT_REVOCATION_ES) >= 50 and len(UNCLEAR_EN + UNCLEAR_ES) >= 30
    assert len({body for body, _, _ in TABLE}) == len(TABLE)  # no phrasing counted twice


@pytest.mark.parametrize(("body", "verdict", "language"), TABLE)
def test_classifies_real_world_phrasings(body, verdict, language):
    result = classify_revocation(body)
    assert result.verdict is verdict, (body, result)
    if language is not None and result.rule != "keyword":
        assert result.language == language, (body, result)


RULES = {rule for rule, _, _ in revocation._CLEAR + revocation._COMPLAINTS + revocation._UNCLEAR} | {
    "keyword",
    "per_se_word",
    "stop_sign",
    "cancel_appointment_reminders",
}


@pytest.mark.parametrize("body", REVOKE_EN + REVOKE_ES + UNCLEAR_EN + UNCLEAR_ES)
def test_the_ledger_keyword_names_the_rule_never_the_words(body):
    found = classify_revocation(body)
    prefix, _, rule = found.ledger_keyword.partition(":")
    assert prefix == ("phrase" if found.verdict is R else "unclear")
    assert rule in RULES  # a fixed rule name: what the patient wrote never reaches the ledger


@pytest.mark.parametrize("language", ["en", "es"])
def test_confirmation_and_clarification_texts_are_one_plain_segment_naming_the_clinic(language):
    book = ReplyBook(clinic_name="Riverside Family Clinic", support_contact="(206) 555-0100")
    for text in (book.opted_out(language), book.opt_out_unclear(language)):
        assert text.startswith("Riverside Family Clinic: ") and "START" in text
        assert is_gsm7(text) and len(text) <= 160
        assert "?" not in text  # nothing a "yes" could answer (it would read as a reminder confirmation)
    assert book.opted_out(language) != book.opt_out_unclear(language)


@pytest.mark.parametrize(
    "body", ["can I cancel and rebook?", "can't make it, please reschedule", "cancel and rebook for friday"]
)
def test_reminder_answers_that_use_cancel_go_to_the_reminder_router(body):
    assert classify_revocation(body).verdict is N
    assert classify_reply(body) is InboundKind.RESCHEDULE


def test_carrier_keywords_stay_exact_and_the_classifier_agrees_with_them():
    for body in ["STOP", "stop", "Stop.", "UNSUBSCRIBE", "CANCEL", "end", "QUIT", "opt out", "Arrêt"]:
        assert classify_keyword(body)[0] is InboundKind.OPT_OUT
        assert classify_revocation(body).verdict is R
    for body in ["stop it", "please stop", "don't stop", "cancel please"]:
        assert classify_keyword(body)[0] is InboundKind.OTHER  # the carrier match is unchanged


def test_normal_form_folds_case_accents_apostrophes_emoji_and_typos():
    assert normalize("Pls STOP txting me!! 😡") == "please stop texting me"
    assert normalize("No más msjs, gracias") == "no mas mensajes gracias"
    assert normalize("Don\u2019t") == normalize("don't") == normalize("dont") == "dont"
    assert normalize("ＳＴＯＰ") == "stop"  # full-width letters


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=1600))
def test_any_text_gets_a_verdict_quickly(body):
    started = time.perf_counter()
    result = classify_revocation(body)
    assert result.verdict in set(Verdict)
    assert time.perf_counter() - started < 0.25


@pytest.mark.parametrize(
    "body",
    [
        "these " * 300,
        "stop " * 320,
        "dont want to " * 120,
        "no me " * 260,
        "cancel my " * 160,
        "the texts " * 160,
    ],
)
def test_long_repetitive_texts_do_not_backtrack(body):
    started = time.perf_counter()
    classify_revocation(body[:1600])
    assert time.perf_counter() - started < 0.25
