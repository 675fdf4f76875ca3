# ruff: noqa: E501  (HTML and CSS read best one element a line)
"""The patient's secure-message page: plain HTML, one small stylesheet, one tiny script, no framework.

Served by SecurePageFunction through the HTTP API (template.yaml), so it is the same stack; in a
deployment CloudFront forwards ``/s`` and ``/s/*`` from the staff app's origin. Every answer carries a
strict Content-Security-Policy (nothing inline, nothing third-party, no framing), ``no-store`` caching and
no referrer. It works without any script except for one thing: the link's token travels in the URL
fragment (``/s#<token>``), which browsers never send to a server, so no access log, CDN log or function
log can ever see it; ``page.js`` (a few lines, served from ``/s/page.js``) moves it into the form's hidden
field, keeps it for this tab in ``sessionStorage`` and strips it from the address bar. From then on the
token travels only in POST bodies, which nothing logs. The access log logs the route key (``POST /s``),
never a path or a body.
A browser with JavaScript off gets a ``<noscript>`` notice above the form saying so plainly: why the
page needs its script, how to turn it on, and whom to call (:func:`needs_script`).

Fast on a phone: one HTML document of a few kilobytes, a stylesheet and a script of a few hundred bytes
each, both cacheable; usable at 360 px (one column, 16 px inputs, large targets).
"""

from __future__ import annotations

from html import escape
from typing import Final

from shared.secure.domain import MAX_ANSWER_CHARS

CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

SCRIPT: Final = """(function () {
  var field = document.getElementById("token");
  if (!field) return;
  var key = "clinictext-secure-link";
  var fromLink = location.hash.slice(1);
  if (fromLink) {
    try { sessionStorage.setItem(key, fromLink); } catch (e) {}
    history.replaceState(null, "", location.pathname);
  }
  if (!field.value) {
    var kept = fromLink;
    if (!kept) { try { kept = sessionStorage.getItem(key) || ""; } catch (e) { kept = ""; } }
    field.value = kept;
  }
  if (!field.value) {
    var missing = document.getElementById("no-link");
    if (missing) missing.hidden = false;
  }
})();
"""

STYLE: Final = """*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#f6f7f9}
main{max-width:36rem;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.5rem 0 1rem}
.card{background:#fff;border:1px solid #d0d5dd;border-radius:8px;padding:1rem;margin:0 0 1rem}
fieldset{border:0;padding:0;margin:0 0 1rem}
legend{font-weight:600;margin-bottom:.25rem}
.dob{display:flex;gap:.5rem;flex-wrap:wrap}
.dob div{display:flex;flex-direction:column}
label{font-weight:600}
input,textarea{font:inherit;font-size:16px;padding:.6rem;border:1px solid #667085;border-radius:6px}
.dob input{width:4.5rem}.dob .year{width:6rem}
textarea{width:100%;min-height:7rem}
button{font:inherit;font-weight:600;color:#fff;background:#1d4ed8;border:0;border-radius:6px;padding:.75rem 1.25rem;min-height:44px;cursor:pointer}
button:focus,input:focus,textarea:focus{outline:3px solid #f59e0b;outline-offset:2px}
.alert{border-left:4px solid #b42318;background:#fef3f2;padding:.75rem;margin:0 0 1rem}
.ok{border-left:4px solid #067647;background:#ecfdf3;padding:.75rem;margin:0 0 1rem}
.message{white-space:pre-wrap;overflow-wrap:anywhere}
.hint{color:#475467;font-size:.9rem}
"""


def _document(title: str, clinic: str, content: str, *, script: bool = False) -> str:
    tag = '<script src="/s/page.js" defer></script>' if script else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{escape(title)} - {escape(clinic)}</title>"
        f'<link rel="stylesheet" href="/s/page.css">{tag}</head>'
        f"<body><main>{content}</main></body></html>\n"
    )


def _alert(text: str | None) -> str:
    return f'<p class="alert" role="alert" id="problem">{escape(text)}</p>' if text else ""


def needs_script(clinic: str, clinic_phone: str = "") -> str:
    """What a browser without JavaScript shows instead of a form that could not work: the token is in
    the fragment, and only the page's script can put it into the form."""
    call = f" Or call {escape(clinic)}" + (f" at {escape(clinic_phone)}" if clinic_phone else "") + "."
    return (
        '<noscript><p class="alert" role="alert" id="needs-script">This page needs JavaScript to open '
        "your message. For your privacy the private part of your link never leaves your phone, and a few "
        "lines of script on this page put it into the form for you. Turn on JavaScript for this site in "
        f"your browser's settings, then open the link from your text message again.{call}</p></noscript>"
    )


def ask_birth_date(
    clinic: str,
    *,
    token: str = "",
    problem: str | None = None,
    values: tuple[str, str, str] = ("", "", ""),
    clinic_phone: str = "",
) -> str:
    """The date-of-birth form. ``token`` is put back only in the hidden field of a POST answer."""
    month, day, year = (escape(v, quote=True) for v in values)
    described = ' aria-describedby="problem"' if problem else ""
    content = (
        f"<h1>A secure message from {escape(clinic)}</h1>"
        f"{needs_script(clinic, clinic_phone)}"
        '<p id="no-link" class="alert" role="alert" hidden>This page needs the link from your text message. '
        "Open the link again from the text.</p>"
        f"{_alert(problem)}"
        '<form class="card" method="post" action="/s" autocomplete="on">'
        "<p>To protect your privacy, please confirm your date of birth.</p>"
        f'<input type="hidden" name="token" id="token" value="{escape(token, quote=True)}">'
        f'<fieldset{described}><legend>Date of birth</legend><p class="hint" id="dob-hint">For example, 02 29 1980</p>'
        '<div class="dob">'
        f'<div><label for="month">Month</label><input id="month" name="month" inputmode="numeric" '
        f'pattern="[0-9]*" maxlength="2" autocomplete="bday-month" required value="{month}" aria-describedby="dob-hint"></div>'
        f'<div><label for="day">Day</label><input id="day" name="day" inputmode="numeric" '
        f'pattern="[0-9]*" maxlength="2" autocomplete="bday-day" required value="{day}"></div>'
        f'<div><label for="year">Year</label><input id="year" class="year" name="year" inputmode="numeric" '
        f'pattern="[0-9]*" maxlength="4" autocomplete="bday-year" required value="{year}"></div>'
        "</div></fieldset>"
        '<button type="submit">Show my message</button></form>'
    )
    return _document("Secure message", clinic, content, script=True)


def mismatch(clinic: str, token: str, tries_left: int) -> str:
    plural = "attempt" if tries_left == 1 else "attempts"
    return ask_birth_date(
        clinic,
        token=token,
        problem=f"The date of birth does not match our records. {tries_left} {plural} left.",
    )


def closed(clinic: str, clinic_phone: str, reason: str) -> str:
    """Not found, expired, locked, the session ended, or a form that could not be read: one clear page,
    nothing about the message."""
    call = f" Call {escape(clinic)}" + (f" at {escape(clinic_phone)}" if clinic_phone else "") + "."
    headings = {
        "not_found": ("This link is not valid", "Check the link in your text message." + call),
        "expired": (
            "This link has expired",
            "Secure messages can be opened for a limited time." + call + " We can send you a new link.",
        ),
        "locked": (
            "This link is locked",
            "The date of birth did not match too many times, so the link was locked to protect your privacy."
            + call,
        ),
        "session_ended": (
            "Your session ended",
            "For your privacy, open the link from your text message again.",
        ),
        "bad_form": (
            "This page could not read what was sent",
            "Nothing was saved. Open the link from your text message again and fill in the form." + call,
        ),
    }
    heading, text = headings[reason]
    content = f'<h1>{escape(heading)}</h1><div class="card"><p>{text}</p></div>'
    return _document(heading, clinic, content)


def show_message(
    clinic: str, body: str, session: str, *, answered: bool = False, problem: str | None = None
) -> str:
    """The message, and a form to answer it (the session travels in the form, never in a URL)."""
    sent = f'<p class="ok" role="status">Your answer was sent to {escape(clinic)}.</p>' if answered else ""
    content = (
        f"<h1>Your secure message from {escape(clinic)}</h1>{sent}{_alert(problem)}"
        f'<article class="card"><p class="message">{escape(body)}</p></article>'
        '<form class="card" method="post" action="/s/answer">'
        f'<input type="hidden" name="session" value="{escape(session, quote=True)}">'
        '<label for="answer">Your answer</label>'
        f'<p class="hint" id="answer-hint">Up to {MAX_ANSWER_CHARS} characters. Staff read answers during business hours; '
        "in an emergency call 911.</p>"
        f'<textarea id="answer" name="answer" maxlength="{MAX_ANSWER_CHARS}" required aria-describedby="answer-hint"></textarea>'
        '<p><button type="submit">Send answer</button></p></form>'
    )
    return _document("Your secure message", clinic, content)
