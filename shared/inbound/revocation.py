"""Opt-outs in plain words: is a whole text a request to stop texting (FCC 24-24, "any reasonable means")?

:func:`classify_revocation` reads the whole message, in English or Spanish, and answers one of three
verdicts. The exact carrier keywords (STOP, CANCEL, ... in :mod:`shared.inbound.keywords`) are matched before
this runs and always win; answers to reminders (:mod:`shared.appointments.reply_parsing`) are asked only after
it, so a revocation can never be read as "yes, confirmed".

``REVOKE``: a clear request to stop texts. Recorded on the consent ledger exactly like STOP, with the rule
that matched (``phrase:<rule>``, never the body) and the one confirmation text.

* A reply made only of the FCC's per-se words and politeness: "stop please", "STOP STOP", "quit now",
  "unsubscribe", "opt me out", "revoke", "baja", "alto", "cancelar".
* A stop word aimed at the texts: "stop texting me", "please stop sending these reminders", "end all
  messages", "cancel my subscription", "i want the texts to stop", "why won't you stop texting me".
* Other reasonable wording: "no more texts", "dont text me anymore", "I don't want these messages",
  "take me off your list", "remove my number", "leave me alone", "wrong number"; in Spanish "no me manden
  mas mensajes", "ya no quiero recibir mensajes", "dejen de escribirme", "darme de baja", "cancelar
  suscripcion", "quitenme de la lista", "numero equivocado".

``UNCLEAR``: a revocation word used in a way that is neither clearly "stop texting me" nor clearly
something else: "stop it", "STOP!!! who is this", "end this", "I need to cancel", "cancel please", "revoke
it", "para", "basta", a lone stop-sign emoji, "no more". The FCC lets the sender ask once; we do, and the
rule's "no answer means revoked" is honoured by treating the text as an opt-out at once (the ledger records
it as ``unclear:<rule>``): the clarification text says texts are paused and that START brings them back,
so nothing automated reaches the number unless the patient says so. The inbound message is kept with the
distinct kind ``opt_out_unclear`` for staff to follow up (a person can call and ask).

``NOT_REVOCATION``: everything else, including these deliberate cases:

* Negations and "keep" wishes: "don't stop texting me", "please don't unsubscribe me", "no need to cancel
  the texts", "keep the reminders coming", "no, don't cancel". A clear request elsewhere in the same text
  still counts ("don't call, just stop texting me").
* Appointment answers: "cancel" with an appointment, a day or a time, or with rebooking: "can I cancel and
  rebook?", "I need to cancel my appointment", "cancel my appt for tuesday", "quiero cancelar mi cita".
  They go on to the reminder-answer router and, if it does not understand them, to staff. "cancel my
  appointment reminders" names both, so it is UNCLEAR.
* Other senses of the words: "stop by the office", "can I stop in at 3", "the pain won't stop", "should I
  stop taking my meds", "take me off the waitlist", "the end of the day", "tengo la presion baja",
  "para manana". Words that may signal a crisis ("I want to end it all") are never answered with an
  automated opt-out text; they stay in the thread for staff.

Matching is over a normal form: accents and case folded, apostrophes dropped ("don't" -> "dont"), emoji and
punctuation removed, and common typos and abbreviations mapped (stp, pls, txt, msgs, unsubcribe, msj).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from shared.core.models import InboundKind
from shared.inbound.keywords import OPT_OUT_WORDS, canonical


class Verdict(StrEnum):
    REVOKE = "revoke"
    UNCLEAR = "unclear"
    NOT_REVOCATION = "not_revocation"


@dataclass(frozen=True)
class Revocation:
    """What a whole message says about consent. ``rule`` names the rule that decided (never the text)."""

    verdict: Verdict
    rule: str
    language: str = "en"  # the language of the matched wording, for the reply: "en" or "es"

    @property
    def ledger_keyword(self) -> str:
        """What the consent ledger records as the event's keyword: the rule, never the body."""
        prefix = "phrase" if self.verdict is Verdict.REVOKE else "unclear"
        return f"{prefix}:{self.rule}"


# -- normal form ------------------------------------------------------------------------------------

_SPELLINGS: Final = {
    # stop
    "stp": "stop",
    "sotp": "stop",
    "stpo": "stop",
    "stopp": "stop",
    "stoppp": "stop",
    "stoop": "stop",
    # politeness
    "pls": "please",
    "plz": "please",
    "plez": "please",
    "plse": "please",
    "pleas": "please",
    "pleae": "please",
    "pleeze": "please",
    "pleaseee": "please",
    "porfa": "por favor",
    "porfavor": "por favor",
    "xfa": "por favor",
    "thx": "thanks",
    "ty": "thanks",
    # texts
    "txt": "text",
    "tx": "text",
    "txts": "texts",
    "txting": "texting",
    "texing": "texting",
    "textin": "texting",
    "txtin": "texting",
    "textng": "texting",
    "msg": "message",
    "msgs": "messages",
    "mesage": "message",
    "mesages": "messages",
    "messge": "message",
    "messges": "messages",
    "messeges": "messages",
    "msging": "messaging",
    "messagin": "messaging",
    "remiders": "reminders",
    "remainders": "reminders",
    # unsubscribe
    "unsub": "unsubscribe",
    "unsubcribe": "unsubscribe",
    "unsuscribe": "unsubscribe",
    "unsubscibe": "unsubscribe",
    "unsubsribe": "unsubscribe",
    "unsubscrib": "unsubscribe",
    "unsubscribed": "unsubscribe",
    "unsubscribing": "unsubscribe",
    "unsubsrcibe": "unsubscribe",
    "unsubscriibe": "unsubscribe",
    "desuscribirme": "desuscribir",
    "desuscribanme": "desuscribir",
    "desuscribame": "desuscribir",
    "desuscribeme": "desuscribir",
    "desubscribir": "desuscribir",
    "desuscribirse": "desuscribir",
    "desuscripcion": "desuscribir",
    "optout": "opt out",
    # cancel
    "cancle": "cancel",
    "cancell": "cancel",
    "cancal": "cancel",
    "cancelled": "cancel",
    "canceled": "cancel",
    "canceling": "cancel",
    "cancelling": "cancel",
    # contractions once the apostrophe is gone, and chat spellings
    "dnt": "dont",
    "u": "you",
    "ur": "your",
    "yr": "your",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tomorow": "tomorrow",
    "tomorrows": "tomorrow",
    "todays": "today",
    "appts": "appt",
    "apt": "appt",
    "apts": "appt",
    # Spanish
    "msj": "mensaje",
    "msjs": "mensajes",
    "mensages": "mensajes",
    "mensage": "mensaje",
    "mjs": "mensajes",
    "q": "que",
}

_APOSTROPHES = str.maketrans({"\u2019": "", "\u2018": "", "'": "", "`": "", "\u00b4": "", "\u02bc": ""})
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_STOP_SIGNS: Final = frozenset({"\U0001f6d1", "\u270b", "\U0001f6ab", "\u26d4", "\U0001f91a"})
_EMOJI_NOISE: Final = frozenset({"\ufe0f", "\u200d", *(chr(cp) for cp in range(0x1F3FB, 0x1F400))})


def normalize(body: str) -> str:
    """``"Pls STOP txting me!!"`` -> ``"please stop texting me"``; ``"No más msjs"`` -> ``"no mas mensajes"``

    Accents and case folded, apostrophes dropped, everything but letters and digits a space, typos mapped.
    """
    decomposed = unicodedata.normalize("NFKD", body)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    words = _NOT_WORD.sub(" ", folded.translate(_APOSTROPHES)).split()
    return " ".join(_SPELLINGS.get(word, word) for word in words)


def _only_stop_signs(body: str) -> bool:
    marks = [ch for ch in body if not ch.isspace() and ch not in _EMOJI_NOISE and ch not in "!.?"]
    return bool(marks) and all(ch in _STOP_SIGNS for ch in marks)


# -- vocabulary -----------------------------------------------------------------------------------------

_TEXT_NOUN = (
    r"(?:texts?|text messages?|messages?|sms|smss|reminders?|notifications?|alerts?|updates?"
    r"|robo ?texts?|spam|automated messages?)"
)
_TEXT_GERUND = (
    r"(?:texting|messaging|sending|contacting|bothering|bugging|pestering|spamming|harassing|pinging)"
)
_TEXT_VERB = r"(?:text|message|contact|bother|bug|spam|harass|ping|send)"
# Calls and e-mail are not texts: "don't call me, text me" is no revocation of texts.
_NOT_TEXTS_GERUND = r"(?:calling|emailing|writing|mailing|phoning|ringing)"
# Words that may sit between a stop word and what is stopped: "stop all these stupid reminders".
_DETERMINERS = (
    r"(?:(?:all|the|these|those|this|your|any|my|such|of|with|w|more|future|further|automated|appointment"
    r"|appt|daily|constant|stupid|annoying|dumb|damn|freaking|frickin|fricking|fucking|f|me|us|them)\s+){0,4}"
)
_DETERMINERS_NO_APPT = _DETERMINERS.replace("|appointment|appt", "")
_STOP_VERB = r"(?:stop|quit|cease|end|halt|discontinue|pause|suspend)"
_APPOINTMENT_NOUN = (
    r"(?:appointment|appointments|appt|appoint|visit|visits|booking|bookings|reservation|slot|session"
    r"|consult|consultation|check ?up|physical|exam|cleaning|surgery|procedure|follow ?up|meeting|spot"
    r"|class|mri|x ?ray|scan|vaccine|shot|lab|labs|bloodwork|blood work|test)"
)
_DAY = (
    r"(?:today|tomorrow|tonight|monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed"
    r"|thu|thur|thurs|fri|sat|sun|next week|this week|the weekend|morning|afternoon|evening|noon"
    r"|\d{1,2}(?: ?(?:am|pm))?|\d{1,2} \d{2}(?: ?(?:am|pm))?|the \d{1,2}(?:st|nd|rd|th)?)"
)
_REBOOK = (
    r"(?:rebook|re book|reschedule|rescheduling|re schedule|move it|book again|book another"
    r"|another (?:day|time)|different (?:day|time)|new (?:day|time)|change it|come in another|make another)"
)
_ES_TEXT_NOUN = r"(?:mensajes?|mensajitos?|textos?|sms|recordatorios?|notificaciones?|alertas?|avisos?|nada)"
_ES_APPOINTMENT = (
    r"(?:cita|citas|consulta|consultas|turno|turnos|visita|reprogramar|reagendar|cambiar|otro dia|otra hora"
    r"|otra fecha|manana|lunes|martes|miercoles|jueves|viernes|sabado|domingo)"
)

_PER_SE_EN: Final = frozenset({"stop", "quit", "end", "unsubscribe", "revoke", "halt", "cease"})
_PER_SE_ES: Final = frozenset({"alto", "parar", "detener", "baja", "cancelar"})
_FILLER: Final = frozenset(
    {
        "please",
        "now",
        "all",
        "asap",
        "thanks",
        "thank",
        "you",
        "immediately",
        "ok",
        "okay",
        "already",
        "again",
        "right",
        "just",
        "seriously",
        "no",
        "yes",
        "sir",
        "maam",
        "and",
        "por",
        "favor",
        "ya",
        "gracias",
        "ahora",
        "si",
        "ahorita",
        "inmediatamente",
        "y",
    }
)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# Clear requests to stop texting, checked in order; (rule, language, pattern).
_CLEAR: Final[tuple[tuple[str, str, re.Pattern[str]], ...]] = (
    ("unsubscribe", "en", _rx(r"\bunsubscribe\b")),
    ("opt_out", "en", _rx(r"\bopt (?:me |us |this number |my number |this phone |my phone )?out\b")),
    (
        "revoke_consent",
        "en",
        _rx(
            r"\b(?:revoke|revoking|withdraw|withdrawing|rescind|cancel|remove|take back)"
            r" (?:my |all |your |any )?"
            r"(?:consent|permission|authorization|authorisation|agreement|approval)\b"
            r"|\bi (?:hereby )?revoke\b"
        ),
    ),
    (
        "stop_texting",
        "en",
        _rx(
            rf"\b{_STOP_VERB} (?:please |now |all |just |w )?(?:(?:getting|receiving) )?"
            rf"(?:{_TEXT_GERUND}|{_DETERMINERS}{_TEXT_NOUN})\b"
        ),
    ),
    ("texts_to_stop", "en", _rx(rf"\b{_TEXT_NOUN} (?:\w+ ){{0,3}}(?:stop|end|cease)\b")),
    (
        "cancel_texts",
        "en",
        _rx(
            rf"\bcancel (?:please )?{_DETERMINERS_NO_APPT}(?:{_TEXT_NOUN}|subscriptions?|texting|messaging"
            r"|sms service|text service|service|enrollment|enrolment|membership to (?:the|your) texts)\b"
        ),
    ),
    (
        "no_more_texts",
        "en",
        _rx(
            rf"\bno (?:more|further|other|additional) {_DETERMINERS}(?:{_TEXT_NOUN}|texting|messaging)\b"
            rf"|\bno (?:{_TEXT_NOUN}|texting|messaging) (?:please|anymore|any more|again|thanks|ever|needed"
            r"|wanted|for me)\b"
            rf"|\benough (?:with )?{_DETERMINERS}{_TEXT_NOUN}\b"
        ),
    ),
    (
        "take_me_off",
        "en",
        _rx(
            r"\b(?:take|remove|delete|drop|erase|get|cross|scratch|strike|pull|unlist|unenroll|unenrol)"
            r" (?:me|us|my (?:phone |cell )?(?:number|cell|phone|info|information|contact|name)"
            r"|this (?:phone |cell )?number) (?:off|from|out of)\b"
            r"|\b(?:remove|delete|erase|unlist|unenroll|unenrol)"
            r" (?:me|us|my (?:phone |cell )?(?:number|cell|phone)|this (?:phone |cell )?number)\b"
            r"|\bdo not (?:text|contact|call|disturb|message) list\b"
            r"|\bdnc list\b"
        ),
    ),
    (
        "dont_text_me",
        "en",
        _rx(
            rf"\b(?:dont|do not|never|stop|quit) (?:ever |again |please )?(?:{_TEXT_VERB}|{_TEXT_GERUND})"
            r" (?:me|us|this number|this phone|my (?:number|phone|cell)|to me|anything)\b"
            r"(?! (?:the|that|it|a|an|your|those)\b)"
            r"|\b(?:dont|do not|never) (?:ever |again |please )?(?:text|txt|sms|message|contact)\b"
            r"(?: (?:anymore|any more|again|ever|please))*$"
            rf"|\b(?:dont|do not|never) (?:ever |again )?send (?:me )?(?:any |more |any more |another |these "
            rf"|those )*(?:{_TEXT_NOUN}|anything)\b"
        ),
    ),
    (
        "dont_want_texts",
        "en",
        _rx(
            r"\b(?:dont|do not|no longer|never|didnt|did not|wont|will not) (?:really |even |ever )?"
            r"(?:want|need|wish|like|consent|agree|care for|appreciate|desire)"
            r" (?:(?:to )?(?:get|receive|be getting|keep getting|keep receiving|be receiving|continue"
            r" (?:getting|receiving|to get|to receive)|have|see) )?(?:to )?"
            r"(?:any |anymore |any more |more |these |those |the |your |this |further |such |ur |of |a |an )*"
            rf"(?:{_DETERMINERS}{_TEXT_NOUN}\b"
            r"|(?:you|anyone|anybody|them|people|yall|you guys) (?:to )?(?:keep )?"
            rf"(?:{_TEXT_VERB}|{_TEXT_GERUND})\b"
            r"|to be (?:texted|messaged|contacted|called|bothered|reminded)\b)"
        ),
    ),
    (
        "leave_me_alone",
        "en",
        _rx(
            r"\bleave me alone\b|\b(?:lose|forget|delete|erase) my (?:number|phone number|contact|info)\b"
            r"|\bstop (?:it )?with (?:the |these |all the |all these )?(?:texts?|messages|reminders)\b"
        ),
    ),
    (
        "wrong_number",
        "en",
        _rx(
            r"\bwrong (?:number|person|phone|num|no|cell)\b"
            r"|\b(?:this is not|this isnt|thats not|that is not|not) my (?:number|phone|cell)\b"
            r"|\bi am not (?:your|the) patient\b|\bim not (?:your|the|a) patient\b"
            r"|\bnever (?:been|was) (?:a|your) patient\b"
        ),
    ),
    (
        "how_do_i_stop",
        "en",
        _rx(
            r"\bhow (?:do|can|could|would|should) (?:i|we|you) (?:get (?:you )?to )?(?:stop|end|turn off)"
            rf"(?: (?:{_DETERMINERS}{_TEXT_NOUN}|these|them|getting these|receiving these))?(?: please)?$"
            rf"|\bturn off (?:{_DETERMINERS}{_TEXT_NOUN})\b"
        ),
    ),
    # Spanish
    ("es_unsubscribe", "es", _rx(r"\bdesuscribir\b")),
    (
        "es_no_send",
        "es",
        _rx(
            r"\bno (?:me |nos |le )?(?:(?:vuelvan|vuelva|vuelvas) a )?(?:manden|mande|mandes|envien|envie"
            r"|envies|escriban|escriba|escribas|textee|texteen|contacten|contacte|molesten|moleste"
            r"|mandar|enviar|escribir)"
            rf"(?:me|nos)?(?= (?:mas|nada|{_ES_TEXT_NOUN}|por favor|ya|gracias|otra vez|nunca)\b|$)"
        ),
    ),
    (
        "es_dont_want",
        "es",
        _rx(
            r"\b(?:no|ya no|nunca) (?:quiero|deseo|necesito|queremos|quisiera) (?:seguir )?"
            r"(?:(?:recibir|recibiendo|obtener"
            r"|que me (?:manden|envien|escriban|sigan mandando|sigan enviando)) )?"
            r"(?:mas |sus |los |las |estos |esos |estas |esas |de |ningun |ningunos |ningunas )*"
            rf"{_ES_TEXT_NOUN}\b"
            r"|\b(?:no|ya no) (?:quiero|deseo) (?:seguir )?recibir(?: mas)?$"
        ),
    ),
    (
        "es_stop_sending",
        "es",
        _rx(
            r"\b(?:(?:dejen|deje|deja|dejar|dejan|paren|pare|parar|detengan|detenga|detener|basta)"
            r" (?:de |a )?|para de )(?:enviar|mandar|escribir|textear|contactar|molestar|enviarme|mandarme"
            r"|escribirme|textearme|contactarme|molestarme)"
            r"|\b(?:parar|paren|pare|detener|detengan|detenga|alto|basta|suspender|suspendan|terminar"
            r"|cancelar|cancelen|cancela|cancele|cancelo|quitar|quiten|eliminar|eliminen|desactivar)"
            r" (?:(?:a|de|con|los|las|estos|estas|esos|sus|todos|todas|mis|el|la|mas|mi|esta|este|tus) ){0,3}"
            r"(?:mensajes?|mensajitos?|textos?|sms|recordatorios?|notificaciones?|alertas?|avisos?"
            r"|suscripcion|subscripcion|suscripciones|servicio de mensajes)\b"
        ),
    ),
    (
        "es_no_more",
        "es",
        _rx(rf"\b(?:no|ya no|nada) mas {_ES_TEXT_NOUN}\b|\bnada de (?:mensajes|textos|sms|recordatorios)\b"),
    ),
    (
        "es_remove",
        "es",
        _rx(
            r"\b(?:quit|saqu|sac|borr|elimin|remuev|remov)\w* (?:(?:me|mi|de|la|su|sus|esta|este|tu)"
            r" ){0,3}(?:lista|numero|telefono|celular)\b"
        ),
    ),
    ("es_baja", "es", _rx(r"\bde baja\b|\bbaja de (?:la lista|los mensajes|mensajes|textos)\b")),
    (
        "es_revoke",
        "es",
        _rx(
            r"\b(?:revoco|retiro|revocar|retirar|cancelo|quito) (?:mi |el )?(?:consentimiento|autorizacion"
            r"|permiso)\b"
        ),
    ),
    (
        "es_wrong_number",
        "es",
        _rx(
            r"\bnumero (?:equivocado|incorrecto|errado|erroneo|equivocada)\b|\bse equivoc\w* de numero\b"
            r"|\bno soy (?:su|el|la) paciente\b|\beste no es mi numero\b"
        ),
    ),
    (
        "es_leave_me_alone",
        "es",
        _rx(r"\bdej\w*me en paz\b|\bno me molest\w*\b"),
    ),
)

# Complaints that the texts go on: clear even though they hold a negated stop word ("won't stop").
_COMPLAINTS: Final[tuple[tuple[str, str, re.Pattern[str]], ...]] = (
    (
        "texts_wont_stop",
        "en",
        _rx(
            rf"\b{_TEXT_NOUN} (?:\w+ ){{0,2}}(?:wont|will not|dont|do not|never|doesnt|does not|just wont)"
            rf"(?: ever)? (?:stop|end)\b|\b{_TEXT_NOUN} (?:keep|keeps|just keep) (?:coming|on coming)\b"
        ),
    ),
    ("put_an_end", "en", _rx(rf"\bput an? (?:end|stop) to {_DETERMINERS}{_TEXT_NOUN}\b")),
)

# Wishes to keep the texts, and negated stop words: a clear match inside one of these does not count.
_KEEP: Final = _rx(
    r"\b(?:dont|do not|please dont|never|no need to|not|didnt|did not|wouldnt|would not|shouldnt|no reason to"
    r"|(?:dont|do not|didnt|did not|never) (?:want|mean|meant|wish|need|plan|intend)(?: you| anyone)?(?: to)?"
    r"|not (?:trying|asking|meaning|going|looking|wanting) to)"
    r" (?:ever |please |yet |now )?"
    r"(?:stop|quit|end|cancel|unsubscribe|remove|opt|revoke|pause|halt|cease|take me off|delete"
    r"|discontinue)\w*"
    rf"(?: (?:{_TEXT_GERUND}|{_DETERMINERS}{_TEXT_NOUN}|me|my \w+))?"
    r"|(?<!you )(?<!they )(?<!still )\bkeep (?:on )?"
    r"(?:texting|messaging|sending|the (?:texts|reminders|messages)"
    r"|me (?:subscribed|on the list|posted|updated|in the loop))"
    r"|\b(?:dont|do not|never) (?:want|wish) (?:the |these |your |my |the appointment )?(?:texts?|messages?"
    r"|reminders?) to (?:stop|end)"
    r"|\bno (?:me )?(?:den de baja|cancelen|paren|dejen de|quiten)"
    r"|\bno (?:quiero|deseo) (?:darme de baja|cancelar|dejar de|que (?:paren|dejen|cancelen))"
    r"|\bsigan? (?:mandando|enviando|escribiendo)"
)

# Other senses of the words: a stop word inside one of these is not a request about texts.
_OTHER_SENSE: Final = _rx(
    r"\bstop (?:by|in|at|over|off|past|there|here|on my way|for|into|to pick|to get|to drop|and pick|and get"
    r"|and see|and grab|to see|through)\b"
    rf"|\bstop (?!{_TEXT_GERUND}\b|{_NOT_TEXTS_GERUND}\b|getting\b|receiving\b)[a-z]+ing\b"
    r"|\bstop (?:the |my |your |taking )?"
    r"(?:meds?|medications?|medicines?|pills?|bleeding|pain|treatment|therapy|insulin|dose|dosage"
    r"|antibiotics?|drops|birth control|prescription|blood thinners?|aspirin)\b"
    r"|\b(?:wont|will not|cant|cannot|can not|doesnt|does not|didnt|did not|hasnt|has not|havent|have not"
    r"|isnt|never|wouldnt|couldnt|aint|not) (?:ever |even |just )?"
    r"(?:stop|stops|stopping|stopped|end|ends|quit)\b"
    rf"(?! (?:{_TEXT_GERUND}|sending|me)\b)"
    r"|\b(?:a|the|bus|last|next|first|pit|full|rest|truck) stop\b"
    r"|\b(?:the|at|by|until|till|til|near|toward|towards|in|before|after|to) (?:the |this |that )?end\b"
    r"|\bend (?:of|up|date|time|result)\b"
    r"|\b(?:off|from|out of|on) (?:the |your |this |my )?(?:wait ?list|waiting list|cancellation list"
    r"|schedule|calendar)\b|\blista de espera\b"
    r"|\bquit (?:smoking|drinking|vaping|my job|work|caffeine|sugar|alcohol|tobacco|cigarettes)\b"
    r"|\b(?:want|wanna|going|gonna|ready|wish|try|trying|tempted|thinking|thought|plan|planning|will|should)"
    r" (?:to )?(?:end|kill|hurt) (?:it|it all|my life|myself|everything|things)\b|\bend (?:my life|it all)\b"
    r"|\bcancel (?:my |the |our |a )?(?:insurance|card|credit card|order|prescription|refill|payment|ride"
    r"|transport|transportation|uber|lyft|policy|plan|coverage|claim|referral)\b"
    r"|\b(?:presion|azucar|glucosa|temperatura|fiebre|defensas|hemoglobina)(?: \w+)? (?:baja|alta|alto)\b"
)

_APPOINTMENT: Final = _rx(
    rf"\b{_APPOINTMENT_NOUN}\b|\b{_REBOOK}\b|\b(?:for|on|at|until) {_DAY}\b|\bcancel \w* ?{_DAY}\b"
    rf"|\b{_ES_APPOINTMENT}\b"
)
_CANCEL_WORD: Final = _rx(r"\bcancel\w*")
_CANCEL_APPOINTMENT_REMINDERS: Final = _rx(
    rf"\bcancel \w* ?{_APPOINTMENT_NOUN} (?:reminders?|texts?|messages?|notifications?|alerts?)\b"
    r"|\bcancelar (?:los |mis )?(?:recordatorios|mensajes|avisos) de (?:la |mi |las |mis )?citas?\b"
)

# Unclear uses: a stop word that is not aimed at the texts and has no other sense here.
_UNCLEAR: Final[tuple[tuple[str, str, re.Pattern[str]], ...]] = (
    ("stop", "en", _rx(r"\bstop\b")),
    ("cancel", "en", _rx(r"\bcancel\b")),
    ("revoke", "en", _rx(r"\brevoke\w*\b")),
    ("end_this", "en", _rx(r"^(?:please |just |ok |okay |now )*(?:end|quit|halt|cease)\b")),
    ("end_this", "en", _rx(r"\b(?:end|quit|halt|cease) (?:it|this|that|them|these|now|already|all this)\b")),
    (
        "no_more",
        "en",
        _rx(r"^(?:no more|enough|enough already|enough is enough|no mas|ya basta)(?: please)?$"),
    ),
    (
        "dont_want_this",
        "en",
        _rx(r"\b(?:dont|do not|no longer) want (?:this|these|it|them)(?: anymore| any more)?$"),
    ),
    ("you_keep_texting", "en", _rx(r"\b(?:you|they) (?:keep|always) (?:texting|messaging|sending)\b")),
    ("cancel", "es", _rx(r"\bcancel(?:ar|en|e|o|a)\b")),
    (
        "para",
        "es",
        _rx(
            r"^(?:ya |por favor )*(?:para|paren|parale|parenle|pare|detengan|basta|alto)"
            r"(?: ya| por favor| ahora| gracias| es| eso| esto)*$|^(?:ya )?basta\b"
        ),
    ),
)


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    start, end = span
    return any(start < other_end and other_start < end for other_start, other_end in others)


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [match.span() for match in pattern.finditer(text)]


def _only_per_se_words(words: list[str]) -> str | None:
    """The language of a text made only of per-se words and politeness ("stop please", "baja"), or None."""
    if not words or not set(words) <= _PER_SE_EN | _PER_SE_ES | _FILLER:
        return None
    if set(words) & _PER_SE_EN:
        return "en"
    spanish = set(words) & _PER_SE_ES
    if spanish and (spanish != {"cancelar"} or words == ["cancelar"]):
        return "es"
    return None


def classify_revocation(body: str) -> Revocation:
    """Whether ``body`` (a whole inbound text) revokes consent to texts; see the module docstring."""
    if canonical(body) in OPT_OUT_WORDS:
        return Revocation(Verdict.REVOKE, "keyword")
    text = normalize(body)
    if not text:
        if _only_stop_signs(body):
            return Revocation(Verdict.UNCLEAR, "stop_sign")
        return Revocation(Verdict.NOT_REVOCATION, "empty")
    words = text.split()
    language = _only_per_se_words(words)
    if language is not None:
        return Revocation(Verdict.REVOKE, "per_se_word", language)

    for rule, rule_language, pattern in _COMPLAINTS:
        if pattern.search(text):
            return Revocation(Verdict.REVOKE, rule, rule_language)
    keep = _spans(_KEEP, text)
    other = _spans(_OTHER_SENSE, text)
    for rule, rule_language, pattern in _CLEAR:
        for match in pattern.finditer(text):
            if not _overlaps(match.span(), keep + other):
                return Revocation(Verdict.REVOKE, rule, rule_language)
    if _CANCEL_APPOINTMENT_REMINDERS.search(text):
        return Revocation(Verdict.UNCLEAR, "cancel_appointment_reminders")
    if keep:
        return Revocation(Verdict.NOT_REVOCATION, "negated")
    about_appointment = bool(_CANCEL_WORD.search(text) and _APPOINTMENT.search(text))
    for rule, rule_language, pattern in _UNCLEAR:
        if about_appointment and rule == "cancel":
            continue  # "cancel" with an appointment, a day or rebooking is an answer to a reminder
        for match in pattern.finditer(text):
            if not _overlaps(match.span(), other):
                return Revocation(Verdict.UNCLEAR, rule, rule_language)
    if about_appointment:
        return Revocation(Verdict.NOT_REVOCATION, "appointment")
    if other:
        return Revocation(Verdict.NOT_REVOCATION, "other_sense")
    return Revocation(Verdict.NOT_REVOCATION, "none")


def inbound_kind(body: str) -> tuple[InboundKind, str | None, str]:
    """For a text that is no carrier keyword: its kind (OPT_OUT, OPT_OUT_UNCLEAR or OTHER), the ledger
    keyword and the language to answer in."""
    found = classify_revocation(body)
    if found.verdict is Verdict.REVOKE:
        return InboundKind.OPT_OUT, found.ledger_keyword, found.language
    if found.verdict is Verdict.UNCLEAR:
        return InboundKind.OPT_OUT_UNCLEAR, found.ledger_keyword, found.language
    return InboundKind.OTHER, None, found.language
