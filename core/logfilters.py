"""Keep personal data out of the logs: ID numbers and mobile numbers are masked in every
record, whatever logged them (a library, an exception message, a request path)."""

import logging
import re

# 18-character ID numbers (17 digits + digit/X) and 11-digit mainland mobile numbers,
# not inside longer digit runs (certificate numbers are 13 characters and stay readable)
# nor after a decimal point (Celery logs task times as "succeeded in 0.013215674316706702s").
_NOT_AFTER = r"(?<![0-9])(?<![0-9]\.)"
_ID = re.compile(_NOT_AFTER + r"([0-9]{4})[0-9]{10}([0-9]{3}[0-9Xx])(?![0-9])")
_PHONE = re.compile(_NOT_AFTER + r"(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")


def redact(text: str) -> str:
    text = _ID.sub(r"\1**********\2", text)
    return _PHONE.sub(r"\1****\2", text)


class RedactPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = str(exc)
            if redact(text) != text:
                # The traceback would print the message again; keep the type, drop the data.
                record.exc_text = f"{type(exc).__name__}: {redact(text)}"
        return True
