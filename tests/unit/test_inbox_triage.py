"""Urgent triage (shared.inbox.triage): a table of phrasings both ways, English and Spanish."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.inbox.triage import Category, normalize, triage

B, C, R, D, S, K, A, U, Z = (
    Category.BLEEDING,
    Category.CHEST_PAIN,
    Category.BREATHING,
    Category.OVERDOSE,
    Category.SELF_HARM,
    Category.STROKE,
    Category.ALLERGIC_REACTION,
    Category.UNCONSCIOUS,
    Category.SEIZURE,
)

URGENT: list[tuple[str, Category, str]] = [
    # bleeding
    ("my incision is bleeding, should I worry?", B, "en"),
    ("My incision is BLEEDING!!!", B, "en"),
    ("it won't stop bleeding", B, "en"),
    ("it hasn't stopped bleeding since this morning", B, "en"),
    ("the bleeding has not stopped", B, "en"),
    ("bleading a lot from the stitches", B, "en"),
    ("Im bleedin everywhere", B, "en"),
    ("my son is coughing up blood", B, "en"),
    ("she's vomiting blood", B, "en"),
    ("throwing up blood", B, "en"),
    ("blood everywhere please help", B, "en"),
    ("I think I'm hemorrhaging", B, "en"),
    ("losing a lot of blood after the procedure", B, "en"),
    ("heavy bleeding after my c-section", B, "en"),
    ("the wound bleeds when I move", B, "en"),
    ("the bleeding stopped but now I have chest pain", C, "en"),
    ("the bleeding stopped but it started again", B, "en"),
    ("it stopped bleeding and now the bleeding is back", B, "en"),
    ("dejo de sangrar pero volvio a sangrar", B, "es"),
    ("estoy sangrando mucho", B, "es"),
    ("sangrado abundante despues de la cirugia", B, "es"),
    ("no deja de sangrar", B, "es"),
    ("mucha sangre en la herida", B, "es"),
    ("mi hijo esta vomitando sangre", B, "es"),
    ("tengo una hemorragia", B, "es"),
    ("la herida sangra", B, "es"),
    ("hace dos horas que estoy sangrando", B, "es"),
    # chest pain
    ("chest pain", C, "en"),
    ("CHEST PAINS since an hour", C, "en"),
    ("chestpain and sweating", C, "en"),
    ("my chest hurts", C, "en"),
    ("No, my chest hurts", C, "en"),
    ("I have pain in my chest", C, "en"),
    ("chest feels tight and heavy", C, "en"),
    ("pressure on my chest", C, "en"),
    ("tightness in my chest", C, "en"),
    ("crushing chest pain", C, "en"),
    ("I think I'm having a heart attack", C, "en"),
    ("my chest pain started an hour ago", C, "en"),
    ("dad has chest pressure", C, "en"),
    ("dolor de pecho", C, "es"),
    ("Dolor en el PÉCHO desde hace una hora", C, "es"),
    ("me duele el pecho", C, "es"),
    ("me duele mucho el pecho", C, "es"),
    ("presion en el pecho", C, "es"),
    ("creo que es un infarto", C, "es"),
    ("mi esposo tiene un ataque al corazon", C, "es"),
    # breathing
    ("I can't breathe", R, "en"),
    ("cant breath", R, "en"),
    ("I cannot breathe well", R, "en"),
    ("can not breathe", R, "en"),
    ("it's hard to breathe", R, "en"),
    ("shortness of breath", R, "en"),
    ("short of breath after walking to the car", R, "en"),
    ("having trouble breathing", R, "en"),
    ("difficulty breathing since lunch", R, "en"),
    ("my baby is not breathing", R, "en"),
    ("he stopped breathing", R, "en"),
    ("she's choking", R, "en"),
    ("gasping for air", R, "en"),
    ("I can't catch my breath", R, "en"),
    ("his lips are turning blue", R, "en"),
    ("no puedo respirar", R, "es"),
    ("No puede respirar!!", R, "es"),
    ("me falta el aire", R, "es"),
    ("tengo falta de aire", R, "es"),
    ("dificultad para respirar", R, "es"),
    ("me estoy ahogando", R, "es"),
    ("mi bebe no respira", R, "es"),
    ("no puedo respirrar", R, "es"),
    # overdose and poisoning
    ("I think I overdosed", D, "en"),
    ("overdose", D, "en"),
    ("my friend is overdosing", D, "en"),
    ("he OD'ed on his meds", D, "en"),
    ("I took too many pills", D, "en"),
    ("took 20 pills", D, "en"),
    ("she took all of her sleeping pills", D, "en"),
    ("took way too much insulin", D, "en"),
    ("she swallowed a whole bottle of tylenol", D, "en"),
    ("my toddler drank bleach", D, "en"),
    ("I think I was poisoned", D, "en"),
    ("sobredosis", D, "es"),
    ("creo que tuvo una sobredosis", D, "es"),
    ("tome demasiadas pastillas", D, "es"),
    ("se tomo todas las pastillas", D, "es"),
    ("mi hijo se envenenó", D, "es"),
    # self-harm
    ("I want to kill myself", S, "en"),
    ("i feel suicidal", S, "en"),
    ("Im sucidal", S, "en"),
    ("I want to die", S, "en"),
    ("thinking about ending my life", S, "en"),
    ("I'm going to end it all", S, "en"),
    ("I've been hurting myself", S, "en"),
    ("I cut myself again", S, "en"),
    ("self harm", S, "en"),
    ("I don't want to live anymore", S, "en"),
    ("everyone would be better off dead without me", S, "en"),
    ("I'm not suicidal but I feel hopeless", S, "en"),
    ("I tried to kill myself last year and feel that way again", S, "en"),
    ("quiero morir", S, "es"),
    ("me quiero morir", S, "es"),
    ("me quiero matar", S, "es"),
    ("pienso en suicidarme", S, "es"),
    ("quiero quitarme la vida", S, "es"),
    ("tengo ganas de hacerme daño", S, "es"),
    ("ya no quiero vivir", S, "es"),
    # stroke
    ("I think my mom is having a stroke", K, "en"),
    ("his face is drooping", K, "en"),
    ("slurred speech and confused", K, "en"),
    ("she's slurring her words", K, "en"),
    ("I can't move my arm", K, "en"),
    ("numb on one side", K, "en"),
    ("sudden numbness in my face", K, "en"),
    ("heat stroke I think, he is very hot and confused", K, "en"),
    ("creo que es un derrame cerebral", K, "es"),
    ("tiene la cara caida", K, "es"),
    ("no puede mover el brazo", K, "es"),
    ("embolia", K, "es"),
    # allergic reaction
    ("allergic reaction to the new antibiotic", A, "en"),
    ("severe alergic raction", A, "en"),
    ("anaphylactic shock", A, "en"),
    ("my throat is closing", A, "en"),
    ("throat swelling after the shot", A, "en"),
    ("her tongue is swollen", A, "en"),
    ("I used my epipen", A, "en"),
    ("reaccion alergica", A, "es"),
    ("Reacción alérgica fuerte", A, "es"),
    ("se me cierra la garganta", A, "es"),
    ("se le hincho la cara", A, "es"),
    # unconscious
    ("he's unconscious", U, "en"),
    ("she passed out", U, "en"),
    ("I fainted twice today", U, "en"),
    ("my grandpa won't wake up", U, "en"),
    ("she is unresponsive", U, "en"),
    ("he collapsed in the kitchen", U, "en"),
    ("I blacked out", U, "en"),
    ("esta inconsciente", U, "es"),
    ("se desmayo", U, "es"),
    ("mi papa no despierta", U, "es"),
    ("perdio el conocimiento", U, "es"),
    # seizure
    ("she fell and is not responding", U, "en"),
    ("he's not responsive", U, "en"),
    ("se cayo y no responde", U, "es"),
    ("my son is having a seizure", Z, "en"),
    ("siezure", Z, "en"),
    ("she's seizing", Z, "en"),
    ("convulsing on the floor", Z, "en"),
    ("tiene convulsiones", Z, "es"),
    ("esta convulsionando", Z, "es"),
    ("ataque epileptico", Z, "es"),
]

NOT_URGENT: list[str] = [
    # negated
    "no bleeding since yesterday",
    "not bleeding anymore",
    "It is not bleeding, just sore",
    "no longer bleeding, can I shower?",
    "no chest pain, just a cough",
    "I don't have chest pain",
    "without shortness of breath",
    "patient denies chest pain",
    "no seizures since March",
    "I didn't pass out, just dizzy",
    "no allergic reaction to the vaccine",
    "sin sangrado",
    "no tengo dolor de pecho",
    "ya no sangra",
    "no me duele el pecho",
    "no tuvo ninguna reaccion alergica",
    # resolved
    "the bleeding stopped",
    "bleeding stopped after I pressed on it",
    "it stopped bleeding",
    "the bleeding is gone",
    "my chest pain went away",
    "dejo de sangrar",
    "ya paro el sangrado",
    # history
    "history of stroke, need a refill",
    "I had a stroke 3 years ago",
    "had a heart attack last year, want a checkup",
    "allergic reaction to penicillin in 2019",
    "tuvo un derrame cerebral hace dos anos",
    "antecedentes de infarto",
    # other senses and routine care
    "chest x-ray appointment",
    "Can I move my chest X-ray to Friday?",
    "when are my blood test results ready",
    "blood pressure was 120/80",
    "need to schedule blood work",
    "what a stroke of luck, thanks!",
    "I swim backstroke for exercise",
    "seizure medication refill please",
    "I need a refill of my seizure meds",
    "I'm allergic to penicillin",
    "allergy shot appointment",
    "this wait is killing me lol",
    "dying to know when you open",
    "what dose should I take?",
    "bleeding gums when I brush",
    "food poisoning last week, feeling better",
    "choking hazard warning on the toy",
    "faint smell of smoke in the waiting room",
    "I took 2 pills this morning, is that ok?",
    "the portal is not responding",
    "el doctor no responde mis llamadas",
    "is it ok if I stop taking my pills",
    "I have a bill question",
    "can I get a refill on my prescription",
    "what time is my appointment tomorrow",
    "thanks for the reminder!",
    "running 10 min late",
    "my breathing is fine now",
    "I can breathe fine",
    "necesito una cita",
    "cuanto cuesta la consulta",
    "gracias, nos vemos manana",
    "tengo una pregunta sobre mi factura",
    "",
    "???",
    "ok",
]


@pytest.mark.parametrize(("text", "category", "language"), URGENT)
def test_urgent(text: str, category: Category, language: str) -> None:
    found = triage(text)
    assert (found.urgent, found.category, found.language) == (True, category, language), found


@pytest.mark.parametrize("text", NOT_URGENT)
def test_not_urgent(text: str) -> None:
    found = triage(text)
    assert not found.urgent, found
    assert found.category is None


def test_the_table_is_large_and_both_ways() -> None:
    assert len(URGENT) + len(NOT_URGENT) >= 150
    assert {category for _text, category, _language in URGENT} == set(Category)
    assert {language for _text, _category, language in URGENT} == {"en", "es"}


def test_result_names_the_rule_never_the_text() -> None:
    found = triage("my incision is bleeding, call me at 206-555-0100")
    assert found.rule == "bleeding"
    assert "206" not in repr(found)


def test_language_of_a_plain_spanish_text() -> None:
    assert triage("hola, necesito cambiar mi cita por favor").language == "es"
    assert triage("hello, I need to change my appointment please").language == "en"


def test_normal_form() -> None:
    assert normalize("I CAN'T breath!!") == "i can not breathe"
    assert normalize("Dolor de PÉCHO") == "dolor de pecho"
    assert normalize("No, my chest hurts") == "no . my chest hurts"


@given(st.text(max_size=200))
def test_never_raises_and_is_stable(text: str) -> None:
    assert triage(text) == triage(text)
