"""What the words around a structured match say it is, when its shape alone is ambiguous.

A phone-shaped number after "serial", "order" or "ISBN" is that identifier; an IPv4-shaped
string after "firmware" or inside "Chrome/124.0.6367.118" is a version; an SSN-shaped string
followed by "-B" is a part number; `support@example.com` is a placeholder; a card-shaped digit run
inside an IBAN is part of the IBAN. These checks drop such matches after the recognizers ran.
They also find account numbers that only their label identifies ("account no. 55019-2274-8",
"número de cuenta 0182 4569 …") and card numbers outside Presidio's prefix list (2-series
Mastercard, JCB) that pass the Luhn check.
"""

from __future__ import annotations

import re
from typing import Any, Final

import re2

Span = tuple[str, int, int]

_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _re2(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


# Words that name an identifier which is not a phone number, an SSN or an account: the number
# after them is that identifier.
IDENTIFIER_WORDS: Final = _words(
    """serial s/n sn part p/n pn model sku isbn isbn-10 isbn-13 issn order orders tracking
    invoice inv ref reference ticket case claim lot batch e-ticket eticket loan policy
    confirmation booking item product version build firmware release vin imei license licence
    key serial-no seriennummer bestellnummer bestellung rechnung pedido factura commande
    facture referencia référence riferimento ordine fattura ordernummer factuurnummer
    shipment parcel waybill awb pnr flight receipt transaction txn trace request incident
    bug issue pr job run asset tag routing aba sort iban bic swift"""
)
# Account words: a phone-shaped number after them is an account number, not a phone.
ACCOUNT_WORDS: Final = _words(
    """account acct acc a/c accounts konto kontonummer cuenta conta compte rekening
    rekeningnummer"""
)
_VERSION_WORDS: Final = _words(
    """version versions ver v firmware fw release released build builds update updated
    updating upgrade upgraded upgrading downgrade downgraded patch patched agent rollback
    rolling roll back sdk driver drivers bios app package pkg kernel ios android macos
    windows chrome firefox safari edge client plugin module library lib dependency
    tag installed install installing running runs"""
)
_NETWORK_WORDS: Final = _words(
    """ip ips ipv4 address addresses addr host hosts hostname server servers gateway gw dns
    ping ssh connect connected connecting connection connections from src dst source
    destination peer route routes subnet vpn proxy firewall blocked banned block ban inet lan
    wan router nat port login logged logins whitelist allowlist denylist blocklist request
    requests traffic attack attacker ddos scan scanned scanning dhcp lease assigned static
    remote origin forwarded client clients node nodes machine box device printer camera nas
    sshd listen listening bind bound endpoint upstream downstream interface eth0 wlan0 public
    private internal external local loopback mask netmask cidr range"""
)
_PHONE_WORDS: Final = _words(
    """phone tel telephone mobile cell cellphone call text whatsapp fax contact reach ring
    number móvil movil telefono teléfono téléphone portable handy telefon"""
)
_EXAMPLE_WORDS: Final = _words(
    """format formats example examples e.g eg regex pattern patterns placeholder sample dummy
    fake test like such template mask"""
)
# Published sample values that stand for a format, not for anyone.
_SAMPLE_SSNS: Final = frozenset({"123-45-6789", "078-05-1120", "219-09-9999", "457-55-5462"})
_SAMPLE_PHONES: Final = re.compile(
    r"^(?:\+?1[ .\-]?)?\(?(\d)\1\1\)?[ .\-]?\1\1\1[ .\-]?\1\1\1\1$|^\(?123\)?[ .\-]?456[ .\-]?7890$"
)
# Domains that stand for "some domain" in templates and docs: an address there is a placeholder.
_PLACEHOLDER_DOMAINS: Final = frozenset(
    {"domain.com", "email.com", "yourdomain.com", "company.com"}
)
# Reserved by RFC 2606/6761: nobody receives mail there, but people type them when they try a
# guardrail ("reach me at jane.doe@example.com"), so an address there is a placeholder only when
# its local part is generic or role-like, it is quoted in code, or the text says it is an example.
_RESERVED_DOMAINS: Final = (
    "example.com",
    "example.org",
    "example.net",
    "example.edu",
    ".example",
    ".test",
    ".invalid",
    ".localhost",
)
_GENERIC_LOCAL_PARTS: Final = _words(
    """user username name email mail you your yourname your.name your_name first.last
    firstname.lastname someone somebody me foo bar baz example sample demo dummy fake
    support info contact admin hello sales help team billing benefits hr jobs careers press
    privacy security webmaster postmaster noreply no-reply donotreply do-not-reply
    notifications alerts account accounts service office"""
)
_GENERIC_LOCAL_PREFIXES: Final = ("test", "your", "user", "example", "noreply", "no-reply")
_ADDRESS: Final = re.compile(r"\S+@\S+|\S*example\.(?:com|org|net|edu)\S*")
_EXAMPLE_WINDOW: Final = 200  # characters either side searched for "example", "sample", ...
_BRAZIL_CEP: Final = re.compile(r"^\d{5}-\d{3}$")
_IPV4: Final = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_IBAN_BEFORE: Final = re.compile(r"(?:iban|\b[A-Z]{2}\d{2})[ :]*(?:[A-Z0-9]{4} ?)*$", re.IGNORECASE)


def _words_before(text: str, start: int, count: int) -> list[str]:
    line_start = text.rfind("\n", 0, start) + 1
    words = _WORD.findall(text[line_start:start].lower())
    return words[-count:][::-1]


def _words_after(text: str, end: int, count: int) -> list[str]:
    line_end = text.find("\n", end)
    words = _WORD.findall(text[end : line_end if line_end >= 0 else len(text)].lower())
    return words[:count]


def _glued(text: str, start: int, end: int) -> bool:
    """Part of a longer code: "123-45-6789-B", "LN-7730-2291-04", "Chrome/124.0.6367.118"."""
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    if before == "//":
        return False  # a URL's host: https://10.14.2.9:8443
    if before[-1:] in ("/", "\\") or (before[-1:] in "-." and before[:1].isalnum() and before):
        return True
    if before[-1:].isalpha():
        return True
    return (after[:1] in ("-", ".", "/") and after[1:2].isalnum()) or after[:1].isalpha()


def _has_near(words: list[str], vocabulary: frozenset[str]) -> bool:
    return any(w in vocabulary for w in words)


def _placeholder_address(text: str, start: int, end: int, local: str) -> bool:
    if local in _GENERIC_LOCAL_PARTS or local.startswith(_GENERIC_LOCAL_PREFIXES):
        return True
    if text[start - 1 : start] in ("'", '"', "`") or "=" in text[max(0, start - 3) : start]:
        return True  # a literal in code or configuration
    before = text[max(0, start - _EXAMPLE_WINDOW) : start]
    after = text[end : end + _EXAMPLE_WINDOW]
    # Other addresses in the window say "example" only in their domain.
    window = _ADDRESS.sub(" ", f"{before} {after}".lower())
    return "e.g." in window or _has_near(_WORD.findall(window), _EXAMPLE_WORDS)


def keep(label: str, text: str, start: int, end: int) -> bool:
    """Whether a structured finding is what its label says, judged by its surroundings."""
    value = text[start:end]
    before = _words_before(text, start, 3)
    if label == "phone_number":
        digits = "".join(c for c in value if c.isdigit())
        if _glued(text, start, end) or _SAMPLE_PHONES.match(value.strip()):
            return False
        if _BRAZIL_CEP.match(value) or len(set(digits)) == 1:
            return False
        if _has_near(before[:2], ACCOUNT_WORDS):
            return False
        wider = _words_before(text, start, 7)
        for word in wider:  # nearest first: a phone word closer than the identifier wins
            if word in _PHONE_WORDS:
                return True
            if word in IDENTIFIER_WORDS:
                return False
        return True
    if label == "ssn":
        if _glued(text, start, end) or _has_near(before, IDENTIFIER_WORDS):
            return False
        if _has_near(before[:2], _words("phone tel mobile cell locker combo combination")):
            return False
        if value in _SAMPLE_SSNS:
            sentence = _WORD.findall(text.lower())
            return not _has_near(sentence, _EXAMPLE_WORDS)
        return True
    if label == "network_info" and _IPV4.match(value):
        if _glued(text, start, end):
            return False
        line_words = _words_before(text, start, 8) + _words_after(text, end, 3)
        if _has_near(before, _VERSION_WORDS) and not _has_near(before[:2], _NETWORK_WORDS):
            return False
        if _has_near(_words_after(text, end, 1), _words("firmware release build version")):
            return False
        # "dovecot 2.3.21.1": a low first octet without a network word.
        return int(value.split(".")[0]) >= 10 or _has_near(line_words, _NETWORK_WORDS)
    if label == "email":
        local, _, domain = value.lower().rpartition("@")
        if domain in _PLACEHOLDER_DOMAINS:
            return False
        if domain.endswith(_RESERVED_DOMAINS) and _placeholder_address(text, start, end, local):
            return False
        chunk_start = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start)) + 1
        chunk = text[chunk_start:start]
        # user:password@host in a URL, and @user@server fediverse handles.
        return not ("://" in chunk or text[start - 1 : start] == "@")
    if label == "account_info":
        return len({c for c in value if c.isdigit()}) > 1
    if label == "credit_card_info":
        line_start = text.rfind("\n", 0, start) + 1
        return _IBAN_BEFORE.search(text[line_start:start]) is None
    return True


# ---------------------------------------------------------------------------------------------
# Cued account numbers and Luhn-valid card numbers outside Presidio's prefixes.
# ---------------------------------------------------------------------------------------------

_ACCOUNT_CUE = _re2(
    r"(?i:(?:^|[^\p{L}])(?:(?:bank|brokerage|checking|savings|current|member|loyalty|customer|"
    r"client|ira|roth[ \t]+ira|pension|investment|trading|deposit)[ \t]+)?"
    r"(?:account|acct|acc|a/c|kundennummer|kontonummer|konto|n[úu]mero[ \t]+de[ \t]+(?:cuenta|"
    r"cliente|conta)|num[ée]ro[ \t]+(?:de[ \t]+)?(?:client|compte)|customer[ \t]+(?:number|no)|"
    r"client[ \t]+(?:number|no)|member[ \t]+(?:number|no)|rekeningnummer|sort[ \t]+code)"
    r"(?:[ \t]+(?:number|num|no\.?|nr\.?|#|is|was|es|est|ist|with[ \t]+[\p{L}&]+(?:[ \t]+is)?))*"
    r"[ \t]*[:#.]?[ \t]*"
    r"([A-Z]{0,3}-?\d[\dA-Z]*(?:[ \-]\d[\dA-Z]*){0,7}))"
)
_ACCOUNT_DIGITS = (6, 34)
_NOT_ACCOUNT_BEFORE = IDENTIFIER_WORDS - {"sort", "routing", "aba", "iban"}

_CARD_SHAPE = _re2(
    r"(?:^|[^\d])(\d{4}([ \-]?)\d{4}[ \-]?\d{4}[ \-]?\d{4}(?:[ \-]?\d{1,3})?)(?:$|[^\d])"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _card_prefix(digits: str) -> bool:
    """Issuer prefixes of the major networks (Visa, Mastercard 51-55 and 2221-2720, Amex,
    Discover, JCB, UnionPay, Diners, Maestro)."""
    two, four = int(digits[:2]), int(digits[:4])
    return (
        digits[0] == "4"
        or 51 <= two <= 55
        or 2221 <= four <= 2720
        or 3528 <= four <= 3589
        or digits.startswith(("6011", "65", "62", "36", "38", "30", "50", "56", "57", "58", "67"))
        or 644 <= int(digits[:3]) <= 649
    )


def find_accounts_and_cards(text: str) -> list[Span]:
    found: list[Span] = []
    for m in _ACCOUNT_CUE.finditer(text):
        start, end = int(m.start(1)), int(m.end(1))
        value = text[start:end].rstrip(" -")
        n_digits = sum(c.isdigit() for c in value)
        if (
            not _ACCOUNT_DIGITS[0] <= n_digits <= _ACCOUNT_DIGITS[1]
            or len(set(value) - set(" -")) == 1
        ):
            continue
        if set(value.replace(" ", "").replace("-", "")) <= {"0"}:
            continue
        cue_words = _WORD.findall(text[int(m.start()) : start].lower())
        if _has_near(cue_words, _NOT_ACCOUNT_BEFORE):
            continue
        sort_code = "sort" in cue_words
        found.append(("sort_code" if sort_code else "account_info", start, start + len(value)))
    # A sort code identifies a branch: it is account information only beside an account.
    accounts = any(label == "account_info" for label, _, _ in found)
    found = [("account_info", s, e) for label, s, e in found if label == "account_info" or accounts]
    for m in _CARD_SHAPE.finditer(text):
        start, end = int(m.start(1)), int(m.end(1))
        digits = "".join(c for c in text[start:end] if c.isdigit())
        if (
            len(digits) in (16, 19)
            and _card_prefix(digits)
            and _luhn(digits)
            and keep("credit_card_info", text, start, end)
        ):
            found.append(("credit_card_info", start, end))
    return found


__all__ = ["ACCOUNT_WORDS", "IDENTIFIER_WORDS", "find_accounts_and_cards", "keep"]
