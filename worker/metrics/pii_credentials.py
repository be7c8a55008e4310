"""Passwords and usernames in the forms they take in configs, code, logs and chat.

`pii.py` finds the prose forms ("my password is X", "username: X"). This module adds the
structured ones, each a shape that says what its value is:

- key/value pairs whose key names a password or a login, in any syntax (`password=…`,
  `"PASSWORD": "…"`, `ADMIN_PASS = "…"`, `define('DB_USER', '…')`, `psk="…"`, `<login>…</login>`,
  `valid users = a, b`, the Wi-Fi QR string's `P:…;`);
- credentials inside URLs and commands: `scheme://user:pass@host`, `curl -u user:pass`,
  `psql -U user`, an LDAP DN's `cn=`/`uid=`;
- logins in logs: sshd's "for [invalid user] X from", "for user 'X'", "authenticated as user X",
  sudo's "sudo: X :", the access log's user field;
- handles: `@handle`, `u/handle`, `Name#1234`, a login in a home path (`/home/aoife/`);
- a login and a password written as a pair after a cue ("login admin / Ch4ngeMe-Now-77").

A value is refused when it is a placeholder or a reference rather than a value (`<password>`,
`${DB_PASS}`, `{{ vault_pass }}`, `os.getenv(…)`, `********`, `string` in a type declaration) or
a generic system account (`root`, `admin`). Patterns run on RE2 (linear time).
"""

from __future__ import annotations

from typing import Any, Final

import re2

Span = tuple[str, int, int]  # label, start, end


def _re2(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_START: Final = r"(?:^|[^\p{L}\p{N}_])"

# A key naming a password: a word or identifier part ("ADMIN_PASS", "bind_password",
# "PGPASSWORD", "db-passwd", "psk").
_PASSWORD_KEY = (
    r"[A-Za-z0-9_.\-]*(?i:password|passwd|passwort|pass|pwd|passphrase|passcode|psk|"
    r"contraseña|senha|wachtwoord|lösenord|haslo|hasło|şifre|sifre)"
)
_USER_KEY = (
    r"[A-Za-z0-9_.\-]*(?i:usernames?|user_names?|users?|usr|login|userid|user_id|uid|"
    r"gamertag|nickname|handle|utilisateur|benutzer|usuario|utente)"
)
# key, optional closing quote, connector, optional opening quote, value. The connector is `=`,
# `:`, `=>`, or a comma between quoted arguments (`define('DB_USER', 'x')`).
_VALUE = r"([^\s\"'`,;)}<>\]]{1,80})"
_KEY_VALUE = _re2(
    _START
    + r"(?:[\"'`]?)("
    + _PASSWORD_KEY
    + r"|"
    + _USER_KEY
    + r")[\"'`]?[ \t]*(?:=>|:=|=|:|[\"'`][ \t]*,)[ \t]*([\"'`]?)"
    + _VALUE
)
# XML elements: <password>x</password>, <login>x</login>.
_XML = _re2(r"<(" + _PASSWORD_KEY + r"|" + _USER_KEY + r")>([^<\s]{1,80})</")
# The Wi-Fi QR string: WIFI:S:<ssid>;T:WPA;P:<password>;;
_WIFI_QR = _re2(r"WIFI:[^\n]*?(?:^|;|:)P:([^;\s]{1,63});")
# scheme://user:password@host (the user may be empty: redis://:pass@host).
_URL_CREDENTIALS = _re2(r"[A-Za-z][A-Za-z0-9+.\-]*://([^:/@\s]{0,64}):([^@\s/]{1,128})@[\w\[]")
# curl -u user:password, with or without quotes.
_CURL_USER = _re2(
    r"(?:^|\s)(?:-u|--user)[ \t]+[\"']?([^:\s\"']{1,64}):([^\s\"']{1,128})[\"']?(?:\s|$)"
)
# psql -U user, mysql -u user, ssh -l user.
_CLI_USER = _re2(r"(?:^|\s)(?:-U|-l|--username=?|--user=?)[ \t]*[\"']?([A-Za-z][\w.\-]{1,40})")
# LDAP DNs: "cn=svc_print,ou=svc,dc=…", "uid=rsantos,ou=people".
_DN_USER = _re2(r"(?i:(?:^|[\s\"'(=])(?:cn|uid)=([A-Za-z][\w.\-]{1,40}),(?:ou|dc)=)")
# Logs.
_LOG_USER = _re2(
    r"(?i:(?:for(?:[ \t]+invalid)?[ \t]+user|authenticated[ \t]+as(?:[ \t]+user)?|"
    r"logged[ \t]+in[ \t]+as|login[ \t]+(?:failed|succeeded|ok)[ \t]+for(?:[ \t]+user)?|"
    r"accepted[ \t]+(?:password|publickey|keyboard-interactive)[ \t]+for|"
    r"failed[ \t]+password[ \t]+for(?:[ \t]+invalid[ \t]+user)?)"
    r"[ \t]+[\"'\x{2018}\x{201C}]?([A-Za-z0-9][\w.\-@]{1,40}?)[\"'\x{2019}\x{201D}]?"
    r"(?:[ \t]+from|[ \t]+via|[ \t]*\(|[ \t]*[,;.]?[ \t]*$|[ \t]*[,;])"
    r")"
)
_SUDO_USER = _re2(r"sudo(?:\[\d+\])?:[ \t]+([a-z_][\w.\-]{1,31})[ \t]+:")
# Combined access log: host, ident, user, [date.
_ACCESS_LOG_USER = _re2(
    r"(?m:^\S+[ \t]+\S+[ \t]+([A-Za-z][\w.\-@]{1,40})[ \t]+\[\d{2}/\w{3}/\d{4})"
)
_TODO_USER = _re2(r"(?:TODO|FIXME|XXX)\(([A-Za-z][\w.\-]{1,30})\)")
# Handles.
_AT_HANDLE = _re2(
    r"(?:^|[\s(\[{\"'`,;])(@[A-Za-z0-9_](?:[\w.\-]{0,38}[A-Za-z0-9_])?)(@[\w.\-]+\.\w+)?"
)
_REDDIT_USER = _re2(r"(?:^|[^\w/])(u/[A-Za-z0-9_\-]{3,20})")
_DISCORD_TAG = _re2(r"(?:^|[^\w#])([A-Za-z][\w.]{2,31}#\d{4})(?:$|[^\w])")
_HOME_PATH = _re2(r"(?:/home/|/Users/|[Cc]:\\\\?Users\\\\?)([A-Za-z0-9_][\w.\-]{1,31})[/\\]")
# "login admin / Ch4ngeMe-Now-77", "Instagram: @bakery / Sourdough!Starter22".
_PAIR = _re2(
    r"(?i:(?:login|logins|credentials|creds|account|acc|user|username|"
    r"instagram|insta|ig|tiktok|facebook|twitter|netflix|steam|wifi|wi-fi|router|admin)"
    r"[ \t]*:?[ \t]+)(@?[A-Za-z0-9_][\w.\-@]{1,40})[ \t]*/[ \t]*([^\s/]{4,64})"
)
# "smbpasswd -a lucia_m  (pw set to X)", "changed it to X", "it was X": prose connectors after
# a password word, within a short reach.
_PROSE_PASSWORD = _re2(
    r"(?i:"
    + _START
    + r"(?:password|passwd|passwort|pass|pw|pwd|passcode|passphrase|pin|code|digicode|"
    r"contraseña|senha|mot[ \t]+de[ \t]+passe|şifre|hasło|wachtwoord|lösenord|kennwort)"
    r"(?:[^\n.?!]{0,30}?)"
    r"(?:[ \t(]|^)(?:is|was|are|=|:|->|set[ \t]+to|changed[ \t]+to|to|it[ \t]+was|it's|its|"
    r"it\x{2019}s|es|é|est|ist|är|jest|is[ \t]+now|now|still|be)[ \t]*:?[ \t]*"
    r"([\"'\x{201C}\x{2018}`(]?)([^\s\"'\x{201C}\x{201D}\x{2018}\x{2019}`()]{4,64}))"
)
# "pw Tr1ton!!22", "PIN 0519", "Digicode 4B27A": a short key right before the value.
_BARE_PASSWORD = _re2(
    r"(?i:" + _START + r"(?:pw|pwd|pass|password|passcode|pin|digicode|door[ \t]+code|"
    r"alarm[ \t]+code|gate[ \t]+code|wifi)[ \t]+"
    r")([^\s\"'`,;()]{4,64})"
)

_PLACEHOLDER_MARKS: Final = ("<", ">", "${", "{{", "}}", "%(", "*", "…", "...", "xxx", "XXX")
_NOT_VALUES: Final = _words(
    """string str int integer bool boolean number any text varchar char none null nil undefined
    true false optional required password passwd pass pwd username user login secret value
    here there your yours mine my the a an is was to be same it this that empty blank
    example sample placeholder redacted hidden removed masked omitted tbd todo n/a na
    wrong incorrect invalid expired weak strong correct right different taken available
    required needed missing locked blocked disabled reset changed forgotten lost stolen
    compromised secure insecure safe unsafe long short simple hard easy sensitive protected
    encrypted saved stored working broken new old current default temporary temp updated
    successfully success failed failure authentication auth field fields form below above
    following attached sent characters digits letters chars protected manager managers policy
    policies hash hashes hashed reset-link link printed shown written displayed listed located
    on in at"""
)
# Generic accounts that identify no one.
_SYSTEM_ACCOUNTS: Final = _words(
    """root admin administrator user users guest test tester nobody system everyone here channel
    all anonymous default daemon www-data ubuntu ec2-user postgres mysql sa operator service
    deploy team me you them him her us"""
)
_CODE_VALUE_PREFIXES: Final = (
    "os.",
    "process.",
    "env(",
    "getenv",
    "secrets.",
    "config.",
    "self.",
    "$",
)


def _strip(value: str) -> str:
    return value.rstrip(".,;:!?)]}")


def _placeholder(value: str) -> bool:
    lower = value.lower()
    if not value or any(mark in value for mark in _PLACEHOLDER_MARKS):
        return True
    if "redact" in lower or value.startswith(("/", "[", "~")):
        return True  # "[REDACTED]"; a path ("PWD=/home/kim" is a working directory)
    if lower in _NOT_VALUES or lower.startswith(_CODE_VALUE_PREFIXES):
        return True
    # A function call or an attribute of an object: a reference in code, not a value.
    if "(" in value or value.endswith(")"):
        return True
    return lower.startswith("your_") or lower.startswith("your-") or lower.endswith("_here")


def looks_like_password(value: str) -> bool:
    """A digit, a symbol or an inner capital: "Petunia1948", "Brooklyn#0814"."""
    has_digit = any(c.isdigit() for c in value)
    has_symbol = any(not c.isalnum() for c in value)
    inner_capital = any(c.isupper() for c in value[1:])
    has_letter = any(c.isalpha() for c in value)
    return (has_digit and has_letter) or (has_symbol and has_letter) or inner_capital


def _strong_password(value: str) -> bool:
    """At least three of: lower case, upper case, digit, symbol; 6+ characters."""
    classes = (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )
    return len(value) >= 6 and classes >= 3


def _username_ok(value: str) -> bool:
    bare = value.lstrip("@").lower()
    return (
        len(bare) >= 2
        and bare not in _SYSTEM_ACCOUNTS
        and not _placeholder(value)
        and "@" not in value.lstrip("@")  # an email: reported as one
        and any(c.isalpha() for c in bare)
    )


def _password_ok(value: str) -> bool:
    if _placeholder(value) or len(value) < 3:
        return False
    # Password hashes are not passwords ("$apr1$…", "$2b$12$…", long hex).
    return not (len(value) >= 32 and all(c in "0123456789abcdef" for c in value.lower()))


def _field_value(text: str, match: Any, quoted: bool, value: str) -> bool:
    """A value standing as a field's value, not the first word of a sentence after a speaker
    label ("User: can you reset…"): quoted, username-shaped, or alone up to a separator."""
    if quoted or any(c.isdigit() or c in "_.-@" for c in value):
        return True
    rest = text[int(match.start(3)) + len(value) :].split("\n", 1)[0].strip()
    return not rest or rest[0] in ",;|/)]}"


def _span(label: str, match: Any, group: int, value: str) -> Span:
    start = int(match.start(group))
    return (label, start, start + len(value))


def find_credentials(text: str) -> list[Span]:
    """Passwords and usernames in structured forms."""
    found: list[Span] = []
    lowered = text.lower()
    if any(k in lowered for k in ("pass", "pw", "psk", "user", "login", "uid", "handle", "pin")):
        for m in _KEY_VALUE.finditer(text):
            key = m.group(1).lower()
            value = _strip(m.group(3))
            quoted = bool(m.group(2))
            is_password = any(
                k in key
                for k in (
                    "pass",
                    "pwd",
                    "psk",
                    "contraseña",
                    "senha",
                    "wachtwoord",
                    "lösenord",
                    "hasło",
                    "haslo",
                    "şifre",
                    "sifre",
                )
            )
            if is_password:
                if key.endswith(("_length", "length", "_policy", "_hash", "hash", "_file", "file")):
                    continue
                if _password_ok(value) and (
                    quoted
                    or not value.isidentifier()
                    or looks_like_password(value)
                    or ":" in m.group(0)
                    or "=" in m.group(0)
                ):
                    found.append(_span("password", m, 3, value))
            elif _username_ok(value) and _field_value(text, m, quoted, value):
                if key.endswith(("_id", "id")) and value.isdigit():
                    continue  # numeric database ids
                found.append(_span("username", m, 3, value))
                # "valid users = lucia_m, paolo.r": the rest of the list.
                rest = text[int(m.end(3)) : text.find("\n", int(m.end(3))) % (len(text) + 1)]
                if key.endswith("users"):
                    offset = int(m.end(3))
                    for part in rest.split(","):
                        name = part.strip()
                        if name and _username_ok(name) and " " not in name:
                            start = offset + rest.index(part) + part.index(name)
                            found.append(("username", start, start + len(name)))
        for m in _XML.finditer(text):
            key, value = m.group(1).lower(), m.group(2)
            label = "password" if "pass" in key or "pwd" in key else "username"
            if (label == "password" and _password_ok(value)) or (
                label == "username" and _username_ok(value)
            ):
                found.append(_span(label, m, 2, value))
        for m in _PROSE_PASSWORD.finditer(text):
            value = _strip(m.group(2))
            quoted = bool(m.group(1)) and m.group(1) != "("
            if _password_ok(value) and (
                _strong_password(value)
                or looks_like_password(value)
                or (quoted and len(value) >= 6)
            ):
                if value.isdigit() and not 4 <= len(value) <= 8:
                    continue
                found.append(_span("password", m, 2, value))
        for m in _BARE_PASSWORD.finditer(text):
            value = _strip(m.group(1))
            if _password_ok(value) and (
                _strong_password(value)
                or (
                    value.isalnum()
                    and any(c.isdigit() for c in value)
                    and 4 <= len(value) <= 8
                    and not value.isalpha()
                )
            ):
                found.append(_span("password", m, 1, value))
    found.extend(
        _span("password", m, 1, m.group(1))
        for m in _WIFI_QR.finditer(text)
        if _password_ok(m.group(1))
    )
    for m in _URL_CREDENTIALS.finditer(text):
        user, password = m.group(1), m.group(2)
        if _password_ok(password):
            found.append(_span("password", m, 2, password))
        if user and _username_ok(user):
            found.append(_span("username", m, 1, user))
    for m in _CURL_USER.finditer(text):
        if _username_ok(m.group(1)):
            found.append(_span("username", m, 1, m.group(1)))
        if _password_ok(m.group(2)):
            found.append(_span("password", m, 2, m.group(2)))
    for m in _PAIR.finditer(text):
        user, password = _strip(m.group(1)), _strip(m.group(2))
        if _strong_password(password) and _password_ok(password):
            found.append(_span("password", m, 2, password))
            if _username_ok(user):
                found.append(_span("username", m, 1, user))
    for pattern in (_CLI_USER, _DN_USER, _LOG_USER, _SUDO_USER, _ACCESS_LOG_USER, _TODO_USER):
        for m in pattern.finditer(text):
            value = _strip(m.group(1))
            if _username_ok(value):
                found.append(_span("username", m, 1, value))
    for m in _AT_HANDLE.finditer(text):
        handle = m.group(1)
        after = text[int(m.end(1)) : int(m.end(1)) + 1]
        if after == "(" or (
            after == "."
            and m.group(2) is None
            and "(" in text[int(m.end(1)) : int(m.end(1)) + 40].split("\n")[0]
        ):
            continue  # a decorator in code: @app.get("/")
        if len(handle) < 4 or not _username_ok(handle):
            continue
        end = int(m.end(2)) if m.group(2) else int(m.end(1))
        found.append(("username", int(m.start(1)), end))
    for pattern in (_REDDIT_USER, _DISCORD_TAG, _HOME_PATH):
        found.extend(
            _span("username", m, 1, m.group(1))
            for m in pattern.finditer(text)
            if _username_ok(m.group(1))
        )
    return found


def valid_credential(label: str, text: str, start: int, end: int) -> bool:
    """The final check on every password and username finding, whichever rule made it."""
    value = text[start:end]
    if text[end : end + 1] == "(":
        return False  # a call in code: useState("")
    if label == "password":
        return _password_ok(value)
    return _username_ok(value) and value.lower() not in _NOT_VALUES


__all__ = ["find_credentials", "looks_like_password", "valid_credential"]
