"""Urgent triage: does a patient's text read as an emergency (English or Spanish)?

:func:`triage` reads a whole inbound text and answers a :class:`Triage`: whether it is urgent, the
:class:`Category` (for staff and metrics), the rule that matched and the language to reply in. Nothing of
the text is echoed. An urgent text gets the "call 911" reply whatever the hour, is flagged and escalated;
a false alarm costs one automated text and a page, a miss can cost a life, so the rules lean to urgent.

What it catches (after folding case and accents, dropping apostrophes and punctuation, and mapping common
misspellings: "cant breath", "chestpain", "bleading", "sangrando", "respirrar"):

* ``bleeding``: "my incision is bleeding", "bleeding a lot", "won't stop bleeding", "coughing up blood",
  "hemorrhaging", "blood everywhere"; "estoy sangrando", "sangrado abundante", "mucha sangre",
  "hemorragia", "vomitando sangre".
* ``chest_pain``: "chest pain", "pain in my chest", "my chest hurts", "chest feels tight", "pressure in my
  chest", "heart attack"; "dolor de pecho", "dolor en el pecho", "me duele el pecho", "presion en el
  pecho", "infarto", "ataque al corazon".
* ``breathing``: "can't breathe", "hard to breathe", "short of breath", "shortness of breath", "trouble
  breathing", "not breathing", "choking", "gasping for air"; "no puedo respirar", "me falta el aire",
  "dificultad para respirar", "me estoy ahogando".
* ``overdose``: "overdose", "OD'd" written "oded", "took too many pills", "took 20 pills" (a count of
  ten or more; "took 2 pills" is not), "took too much insulin",
  "swallowed a bottle of", "drank bleach", "poisoned"; "sobredosis", "tome demasiadas pastillas",
  "se tomo todas las pastillas", "envenenado".
* ``self_harm``: "suicidal", "kill myself", "want to die", "end my life", "hurt myself", "self harm",
  "cutting myself", "don't want to live"; "quiero morir", "me quiero matar", "suicidarme", "quitarme la
  vida", "hacerme dano", "no quiero vivir".
* ``stroke``: "stroke", "face is drooping", "slurred speech", "can't move my arm", "numb on one side";
  "derrame cerebral", "embolia", "cara caida", "no puedo mover el brazo".
* ``allergic_reaction``: "allergic reaction", "anaphylaxis", "throat is closing", "throat swelling",
  "tongue is swollen", "used my epipen"; "reaccion alergica", "se me cierra la garganta", "anafilaxia".
* ``unconscious``: "unconscious", "passed out", "fainted", "won't wake up", "unresponsive", "collapsed",
  "she is not responding" (a person: "the portal is not responding" is not); "inconsciente", "se desmayo",
  "no despierta", "no responde" (but not "no responde mis llamadas"), "perdio el conocimiento".
* ``seizure``: "seizure", "seizing", "convulsing", "convulsions"; "convulsion", "convulsionando",
  "ataque epileptico".

What it deliberately does not call urgent:

* Negated symptoms: "no bleeding since yesterday", "not bleeding anymore", "no chest pain", "without
  shortness of breath", "denies chest pain", "no seizures since March", "didn't pass out"; "sin
  sangrado", "no tengo dolor de pecho", "ya no sangra". The negation must sit right before the symptom
  (at most two words between), so "no, my chest hurts" is still urgent, and "can't breathe", "not
  breathing", "no puedo respirar" are symptoms, not negations.
* Resolved symptoms: "the bleeding stopped", "stopped bleeding", "bleeding is gone", "the chest pain went
  away"; "dejo de sangrar", "ya paro el sangrado". "won't stop bleeding" and "hasn't stopped bleeding"
  stay urgent.
* History: "history of stroke", "had a stroke 3 years ago", "heart attack last year", "allergic
  reaction to penicillin in 2019".
* Other senses and routine care: "chest x-ray appointment", "blood test", "blood pressure", "blood
  work", "stroke of luck", "backstroke", "seizure medication refill", "allergic to
  penicillin", "allergy shot", "this wait is killing me", "dying to know", "what dose should I take".
* Self-harm is never negated or dated: "I'm not suicidal but I feel hopeless", "I tried to kill myself
  last year" are urgent; a person should read them now.

Known gaps (not caught; staff still see the text in the department's queue): head injuries, high fevers,
"I think I'm dying", labour and pregnancy wording other than bleeding, severity grading (a "little"
bleeding is urgent too), and languages other than English and Spanish.

A text with several mentions is urgent when any one of them is: "the bleeding stopped but now I have
chest pain" is ``chest_pain``. Pure domain code: no AWS, no logging.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Category(StrEnum):
    BLEEDING = "bleeding"
    CHEST_PAIN = "chest_pain"
    BREATHING = "breathing"
    OVERDOSE = "overdose"
    SELF_HARM = "self_harm"
    STROKE = "stroke"
    ALLERGIC_REACTION = "allergic_reaction"
    UNCONSCIOUS = "unconscious"
    SEIZURE = "seizure"


@dataclass(frozen=True)
class Triage:
    """The verdict on one text. ``rule`` names what matched (never the text); ``language`` is "en"/"es"."""

    urgent: bool
    category: Category | None
    rule: str
    language: str = "en"


# -- normal form ----------------------------------------------------------------------------------------

_SPELLINGS: Final = {
    "breath": "breathe",  # "cant breath": the noun is the usual misspelling of the verb
    "breth": "breathe",
    "brethe": "breathe",
    "breeth": "breathe",
    "breathin": "breathing",
    "brething": "breathing",
    "breating": "breathing",
    "bleading": "bleeding",
    "bleedin": "bleeding",
    "bleding": "bleeding",
    "bledding": "bleeding",
    "bleeing": "bleeding",
    "chestpain": "chest pain",
    "chestpains": "chest pains",
    "cheat": "chest",
    "chst": "chest",
    "overdosed": "overdose",
    "overdosing": "overdose",
    "overdoes": "overdose",
    "overdoze": "overdose",
    "sucidal": "suicidal",
    "suicidial": "suicidal",
    "sucidial": "suicidal",
    "suicidel": "suicidal",
    "siezure": "seizure",
    "seizer": "seizure",
    "seisure": "seizure",
    "siezures": "seizures",
    "seizers": "seizures",
    "siezing": "seizing",
    "unconcious": "unconscious",
    "unconsious": "unconscious",
    "anaphylactic": "anaphylaxis",
    "anaphalaxis": "anaphylaxis",
    "anaphylaxsis": "anaphylaxis",
    "alergic": "allergic",
    "allergick": "allergic",
    "raction": "reaction",
    "myslef": "myself",
    "mysef": "myself",
    "im": "i am",
    "ive": "i have",
    "hes": "he is",
    "shes": "she is",
    "theyre": "they are",
    "isnt": "is not",
    "wasnt": "was not",
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "hasnt": "has not",
    "havent": "have not",
    "wont": "will not",
    "cant": "can not",
    "cannot": "can not",
    "couldnt": "could not",
    "u": "you",
    "pls": "please",
    "plz": "please",
    # Spanish
    "sangrandro": "sangrando",
    "sangrnado": "sangrando",
    "respirrar": "respirar",
    "resperar": "respirar",
    "respiar": "respirar",
    "pesho": "pecho",
    "sobredosys": "sobredosis",
    "q": "que",
}

_APOSTROPHES = str.maketrans({"\u2019": "", "\u2018": "", "'": "", "`": "", "\u00b4": "", "\u02bc": ""})
_NOT_WORD: Final = re.compile(r"[^a-z0-9.]+")
_STOPS: Final = re.compile(r"[.,;:!?]+")


def normalize(body: str) -> str:
    """``"I CAN'T breath!!"`` -> ``"i can not breathe"``; ``"Dolor de PÉCHO"`` -> ``"dolor de pecho"``."""
    decomposed = unicodedata.normalize("NFKD", body)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    # Sentence punctuation stays as a "." word, so "no, my chest hurts" is no negation of the pain.
    clauses = _STOPS.sub(" . ", folded.translate(_APOSTROPHES).replace("x-ray", "xray"))
    words = _NOT_WORD.sub(" ", clauses.replace(".", " . ")).split()
    text = " ".join(_SPELLINGS.get(word, word) for word in words)
    return " ".join(text.replace(" . . ", " . ").strip(" .").split())


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# -- vocabulary -----------------------------------------------------------------------------------------

_BLEED = r"(?:bleeding|bleeds|bleed|hemorrhag\w*|haemorrhag\w*)"
_CHEST = r"(?:chest pains?|pains? in (?:my |his |her |the )?chest|chest (?:pressure|tightness))"
_ES_BLEED = r"(?:sangrado|sangrando|sangra|sangre|hemorragia|sangrar)"
_ES_CHEST = r"(?:dolor(?:es)? (?:de|en el) pecho|presion en el pecho|opresion en el pecho)"

# Urgent wording, checked in order: (category, rule, language, pattern).
_URGENT: Final[tuple[tuple[Category, str, str, re.Pattern[str]], ...]] = (
    # Self-harm first: never negated or dated away.
    (
        Category.SELF_HARM,
        "self_harm",
        "en",
        _rx(
            r"\bsuicid\w*|\bkill(?:ing)? (?:my ?self|myself)\b|\bkms\b"
            r"|\b(?:want|wanna|going|gonna|ready|wish|plan|planning|thinking about|think about|thought about)"
            r" (?:to )?(?:die|end (?:it all|my life|everything)|hurt myself|harm myself|kill myself)\b"
            r"|\bend(?:ing)? (?:my life|it all)\b|\btake my (?:own )?life\b"
            r"|\b(?:hurt|hurting|harm|harming|cut|cutting) (?:my ?self|myself)\b|\bself ?harm\w*"
            r"|\b(?:do not|dont) want to (?:live|be alive|wake up)\b|\bno reason to live\b"
            r"|\bbetter off dead\b"
        ),
    ),
    (
        Category.SELF_HARM,
        "self_harm",
        "es",
        _rx(
            r"\b(?:me )?quiero morir\w*|\bquiero matarme\b|\bme quiero matar\b|\bme voy a matar\b"
            r"|\bsuicid(?:arme|arse|arte|io|a|ar|e)\b|\bmatarme\b|\bquitarme la vida\b"
            r"|\b(?:hacerme|me hago|me hice) (?:dano|danio)\b"
            r"|\bno quiero (?:vivir|seguir viviendo)\b|\bhacerme algo\b|\bcortarme\b|\bme corto\b"
        ),
    ),
    (
        Category.BREATHING,
        "breathing",
        "en",
        _rx(
            r"\b(?:can not|could not|unable to|hard to|cannot|struggling to|barely|trouble to) breathe\b"
            r"|\b(?:trouble|difficulty|difficult|problems?|hard time|struggling) (?:with )?breathing\b"
            r"|\bshort(?:ness)? (?:of|o) breathe?\b"
            r"|\b(?:not|stopped|isnt|is not) breathing\b|\bchoking\b|\bgasping\b"
            r"|\bcan not (?:catch|get) (?:my|his|her) breathe?\b|\bturning blue\b"
        ),
    ),
    (
        Category.BREATHING,
        "breathing",
        "es",
        _rx(
            r"\bno (?:puedo|puede|podemos|pueden) respirar\b|\b(?:me|le) falta (?:el )?aire\b"
            r"|\bfalta de aire\b|\bdificultad (?:para|al) respirar\b|\b(?:me|se) (?:esta |estoy )?ahog\w*"
            r"|\bno respira\b|\bmuy dificil respirar\b|\bcuesta respirar\b"
        ),
    ),
    (
        Category.CHEST_PAIN,
        "chest_pain",
        "en",
        _rx(
            rf"\b{_CHEST}\b"
            r"|\bchest (?:hurts|is hurting|hurting|feels (?:tight|heavy)|is tight|tight|ache|aches"
            r"|is killing)"
            r"|\b(?:tightness|pressure|squeezing|crushing) (?:in|on) (?:my |the )?chest\b|\bcrushing chest\b"
            r"|\bheart attack\b"
        ),
    ),
    (
        Category.CHEST_PAIN,
        "chest_pain",
        "es",
        _rx(rf"\b{_ES_CHEST}\b|\bme duele (?:mucho )?el pecho\b|\binfarto\b|\bataque (?:al|de) corazon\b"),
    ),
    (
        Category.OVERDOSE,
        "overdose",
        "en",
        _rx(
            r"\boverdose\b|\boded\b|\bo d ed\b"
            r"|\b(?:took|taken|swallowed) (?:way )?too (?:many|much)\b"
            r"|\b(?:took|taken|swallowed) (?:[1-9]\d+|all|a bunch|a handful|handful|a whole bottle)"
            r" (?:of )?(?:my |his |her |the )?(?:\w+ )?(?:pills|tablets|capsules|meds|gummies)\b"
            r"|\bswallowed (?:a|the|an|whole|entire) (?:whole |entire )?(?:bottle|pack|box)\b"
            r"|\b(?:drank|swallowed|ate) (?:some )?(?:bleach|antifreeze|poison|rat poison|detergent)\b"
            r"|\bpoisoned\b|\bpoisoning\b"
        ),
    ),
    (
        Category.OVERDOSE,
        "overdose",
        "es",
        _rx(
            r"\bsobredosis\b|\b(?:tome|tomo|tomaron|se tomo|me tome) (?:demasiad\w*|todas las|toda la"
            r"|muchas)\b|\benvenen\w*|\bse trago\b|\btome cloro\b|\bbebio cloro\b"
        ),
    ),
    (
        Category.STROKE,
        "stroke",
        "en",
        _rx(
            r"\bstrokes?\b|\b(?:face|mouth|smile) (?:is )?(?:drooping|droopy|drooped|droops)\b"
            r"|\bdrooping (?:face|mouth)\b|\bslurr(?:ed|ing)\b"
            r"|\bcan not (?:move|feel|lift) (?:my|his|her) (?:arm|leg|face|left|right)\b"
            r"|\b(?:numb|numbness|weak|weakness|paralyzed) (?:on|in)"
            r" (?:one|the left|the right|my left|my right) side\b"
            r"|\bone side (?:of (?:my|his|her) (?:body|face) )?(?:is )?(?:numb|weak|drooping)\b"
            r"|\bsudden numbness\b"
        ),
    ),
    (
        Category.STROKE,
        "stroke",
        "es",
        _rx(
            r"\bderrame cerebral\b|\bataque cerebral\b|\bembolia\b|\baccidente cerebrovascular\b"
            r"|\bcara caida\b|\bse le cae la cara\b|\bno (?:puedo|puede) mover el brazo\b"
            r"|\bhabla arrastrada\b|\bno puede hablar bien\b"
        ),
    ),
    (
        Category.ALLERGIC_REACTION,
        "allergic_reaction",
        "en",
        _rx(
            r"\ballergic reaction\b|\banaphyla\w*"
            r"|\bthroat (?:is )?(?:closing|swelling|swollen|tight|closing up)"
            r"|\b(?:tongue|lips?|face) (?:is |are )?(?:swelling|swollen|swelled)\b"
            r"|\b(?:used|use|needed|need|gave|give) (?:my|his|her|an|the) epi ?pen\b|\bepi ?pen\b"
        ),
    ),
    (
        Category.ALLERGIC_REACTION,
        "allergic_reaction",
        "es",
        _rx(
            r"\breaccion alergica\b|\banafila\w*|\b(?:se me|se le) cierra la garganta\b|\bgarganta cerrada\b"
            r"|\b(?:se me|se le) hinch\w* (?:la )?(?:cara|lengua|garganta|labios?)\b"
            r"|\bchoque anafilactico\b"
        ),
    ),
    (
        Category.UNCONSCIOUS,
        "unconscious",
        "en",
        _rx(
            r"\bunconscious\b|\bpass(?:ed)? out\b|\bpassing out\b|\bfaint(?:ed|ing)?\b|\bunresponsive\b"
            r"|\b(?:will not|can not|wont|not) wak(?:e|ing) up\b|\bcollapsed\b|\bblacked out\b"
            r"|\blost consciousness\b"
            r"|\b(?:he|she|they|baby|son|daughter|husband|wife|mom|mother|dad|father|grandma|grandpa|child"
            r"|kid|friend|partner|patient)(?: \w+){0,3}? (?:is not|not|stopped|no longer)"
            r" (?:responding|responsive)\b"
        ),
    ),
    (
        Category.UNCONSCIOUS,
        "unconscious",
        "es",
        _rx(
            r"\binconsciente\b|\b(?:se|me) desmay\w*|\bno (?:despierta|responde|reacciona)\b"
            r"|\bperdio el (?:conocimiento|sentido)\b|\bse desplomo\b"
        ),
    ),
    (
        Category.SEIZURE,
        "seizure",
        "en",
        _rx(r"\bseizures?\b|\bseizing\b|\bconvuls\w*|\bepileptic fit\b"),
    ),
    (
        Category.SEIZURE,
        "seizure",
        "es",
        _rx(r"\bconvulsion\w*|\bconvulsionando\b|\bataque epileptico\b|\bcrisis epileptica\b"),
    ),
    (
        Category.BLEEDING,
        "bleeding",
        "en",
        _rx(
            rf"\b{_BLEED}\b|\b(?:coughing|vomiting|throwing|puking|spitting) (?:up )?blood\b"
            r"|\bblood (?:everywhere|all over|is gushing|gushing|wont stop|will not stop|pouring)\b"
            r"|\blosing (?:a lot of )?blood\b|\blots of blood\b|\bso much blood\b"
        ),
    ),
    (
        Category.BLEEDING,
        "bleeding",
        "es",
        _rx(rf"\b{_ES_BLEED}\b|\bmucha sangre\b|\bperdiendo sangre\b|\b(?:vomitando|tosiendo) sangre\b"),
    ),
)

# A negation right before a symptom noun (at most two words between): "no bleeding", "not bleeding
# anymore", "no longer bleeding", "sin sangrado". Symptoms that are themselves negated verbs ("can not
# breathe", "not breathing") are not nouns here, so they are never read as negations.
_NEGATABLE = (
    rf"(?:{_BLEED}|blood|{_CHEST}|chest (?:hurts|is hurting)|shortness of breathe?|trouble breathing"
    r"|difficulty breathing|seizures?|convulsions?|allergic reaction|reaction|stroke|fainting|faint|fainted"
    r"|pass(?:ed)? out|swelling|overdose|heart attack)"
)
_ES_NEGATABLE = (
    rf"(?:{_ES_BLEED}|{_ES_CHEST}|convulsion\w*|reaccion alergica|desmay\w*|falta de aire|dolor"
    r"|derrame cerebral|embolia|infarto|ataque al corazon)"
)
_NEGATED: Final = _rx(
    r"\b(?:no|not|never|without|denies|deny|denied|nor|none|zero|free of|negative for|no more|no longer"
    r"|did not|does not|has not|have not|is not|was not|had not|never had)"
    rf" (?:(?!stop|quit|end)\w+ ){{0,2}}?{_NEGATABLE}\b"
    rf"|\b(?:sin|nada de|ningun\w*|ya no|no|nunca) (?:(?!dej|par|deten)\w+ ){{0,2}}?{_ES_NEGATABLE}\b"
    r"|\bno me duele el pecho\b"
)
# Symptoms that were, and are no more: "the bleeding stopped". "won't stop bleeding" is not one, nor is
# a resolution the text takes back later ("it stopped but started again", "paro pero volvio").
_RESOLVED: Final = _rx(
    r"(?:"
    rf"(?<!not )(?<!never )\bstopped {_BLEED}\b"
    rf"|\b{_NEGATABLE} (?:has |have |had |finally |now |)(?:stopped|went away|gone|is gone|are gone"
    r"|has gone away|is over|resolved|is better|got better|subsided|eased)\b"
    r"|\b(?:dejo|deje|paro) de (?:sangrar|doler)\b"
    rf"|\bya (?:paro|se quito|se fue) (?:el |la )?{_ES_NEGATABLE}\b"
    rf"|\b(?:el |la )?{_ES_NEGATABLE} (?:ya )?(?:paro|se quito|se fue|desaparecio)\b"
    r")(?!.*\b(?:again|came back|is back|back again|returned|otra vez|de nuevo|volvio|regreso)\b)"
)
# Past events: "history of stroke", "had a stroke 3 years ago", "heart attack last year".
_AGO = (
    r"(?:(?:\d+|a|an|one|two|three|four|five|few|couple|several|many) (?:of )?(?:years?|months?) ago"
    r"|last (?:year|month|summer|spring|fall|winter)|in (?:19|20)\d\d|as a (?:kid|child|baby|teen))"
)
_HISTORY: Final = _rx(
    rf"\b(?:history of|hx of) (?:\w+ ){{0,2}}?{_NEGATABLE}\b"
    rf"|\bhad (?:a |an |my |his |her )?(?:\w+ )?{_NEGATABLE}(?: (?!since)\w+){{0,5}} {_AGO}\b"
    rf"|\b{_NEGATABLE}(?: (?!since)\w+){{0,4}} {_AGO}\b"
    rf"|\bhace (?:\w+ )?(?:anos|meses)\b(?: \w+){{0,3}} {_ES_NEGATABLE}\b"
    rf"|\b{_ES_NEGATABLE}(?: (?!desde)\w+){{0,4}} (?:hace (?:\w+ )?(?:anos|meses)|el ano pasado"
    r"|el mes pasado|en (?:19|20)\d\d)\b"
    r"|\bantecedentes? de\b(?: \w+){0,2}"
)
# Other senses of the words, and routine care.
_OTHER_SENSE: Final = _rx(
    r"\bstroke of (?:luck|genius|midnight)\b|\b(?:back|breast|brush|key|pen|swim|swimming) ?strokes?\b"
    r"|\bfood poisoning\b"
    r"|\bseizures? (?:med\w*|pills?|prescriptions?|refills?|drugs?|doctor|neurologist|history|free)\b"
    r"|\b(?:med\w*|pills?|prescriptions?|refills?|drugs?) for (?:my )?seizures?\b"
    r"|\banti ?seizure\b"
    r"|\bfaint (?:smell|sound|line|mark|taste|idea|hope)\b"
    r"|\bbleeding (?:gums|heart)\b"
    r"|\bmed\w* (?:for|after) (?:my |the )?(?:heart attack|stroke|chest pain)\b"
    r"|\bchoking hazard\b"
    r"|\bno (?:responde|contesta)n? (?:a )?(?:mis |el |los |las |sus )?"
    r"(?:llamadas?|mensajes?|telefono|correos?)\b"
    r"|\b(?:my )?(?:heart attack|stroke) (?:follow ?up|rehab|recovery|clinic|prevention|risk)\b"
)


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [match.span() for match in pattern.finditer(text)]


def _inside(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    start, end = span
    return any(other_start <= start and end <= other_end for other_start, other_end in others)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SPANISH_WORDS: Final = _words(
    "el la los las que de por para con mi mis tengo estoy esta hola gracias necesito puedo quiero"
    " cita dolor mucho muy hoy manana ayer usted ustedes buenos buenas dias tardes noches favor como"
    " donde cuando tiene se si pero y es son su sus una un del al"
)
_ENGLISH_WORDS: Final = _words(
    "the a an is are my i you me to of and in for on it this that with have has can not do does"
    " please thanks thank hi hello need want appointment what when where how he she they we was be"
)


def language_of(text: str) -> str:
    """ "es" when a normalized text has more Spanish function words than English ones, else "en"."""
    words = text.split()
    spanish = sum(word in _SPANISH_WORDS for word in words)
    english = sum(word in _ENGLISH_WORDS for word in words)
    return "es" if spanish > english else "en"


def _counts(
    span: tuple[int, int], category: Category, excluded: list[tuple[int, int]], other: list[tuple[int, int]]
) -> bool:
    """A match counts unless it sits in another sense, or (but for self-harm) in a negation or the past."""
    if _inside(span, other):
        return False
    return category is Category.SELF_HARM or not _inside(span, excluded)


def triage(body: str) -> Triage:
    """Whether ``body`` (a whole inbound text) reads as urgent; see the module docstring."""
    text = normalize(body)
    language = language_of(text)
    if not text:
        return Triage(False, None, "empty", language)
    excluded = _spans(_NEGATED, text) + _spans(_RESOLVED, text) + _spans(_HISTORY, text)
    other = _spans(_OTHER_SENSE, text)
    found = [
        (category, rule, rule_language)
        for category, rule, rule_language, pattern in _URGENT
        if any(_counts(match.span(), category, excluded, other) for match in pattern.finditer(text))
    ]
    if found:
        category, rule, rule_language = found[0]
        # A word both languages share ("convulsiones", "suicidarme") answers in Spanish when a Spanish
        # rule of the same category matched too.
        spanish = any(
            language == "es" and other_category is category for other_category, _r, language in found
        )
        return Triage(True, category, rule, "es" if spanish else rule_language)
    if excluded:
        return Triage(False, None, "negated_or_past", language)
    if other:
        return Triage(False, None, "other_sense", language)
    return Triage(False, None, "none", language)
