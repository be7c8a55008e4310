"""Secrets configured by reference (`env:NAME`, `file:/path`), never by value.

Webhook signing secrets and model-server tokens both come through here, so configuration files,
logs and Kafka records never carry a secret, and errors name the reference, never the value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from worker.errors import ConfigurationError

# Only kind names that look like one are echoed back in errors: anything else could be (part of)
# a secret pasted where a reference was expected.
_REF_KIND = re.compile(r"[a-z][a-z0-9_-]{0,15}")


def resolve_secret(ref: str) -> str:
    """The secret a reference points to: `env:NAME` or `file:/path` (content, stripped).

    Secrets are configured by reference so that configuration files, logs and Kafka records never
    carry them. Errors name the reference kind and the variable or path, never the value.
    """
    kind, sep, target = ref.partition(":")
    if not sep or not _REF_KIND.fullmatch(kind):
        raise ConfigurationError(
            "a secret reference must be env:NAME or file:/path (secrets themselves are never "
            "accepted in configuration)"
        )
    if kind == "env":
        if not target:
            raise ConfigurationError("secret reference env: needs a variable name (env:NAME)")
        value = os.environ.get(target)
        if value is None:
            raise ConfigurationError(
                f"secret reference env:{target}: environment variable {target} is not set"
            )
        where = f"env:{target}"
    elif kind == "file":
        if not target:
            raise ConfigurationError("secret reference file: needs a path (file:/path)")
        try:
            value = Path(target).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            # Only the error class: an exception chained from here could carry file content.
            raise ConfigurationError(
                f"secret reference file:{target}: cannot read the file ({type(error).__name__})"
            ) from None
        where = f"file:{target}"
    else:
        raise ConfigurationError(
            f"unsupported secret reference kind {kind!r}: expected env:NAME or file:/path"
        )
    value = value.strip()
    if not value:
        raise ConfigurationError(f"secret reference {where}: the secret is empty")
    return value


__all__ = ["resolve_secret"]
