import logging

from core.logfilters import RedactPersonalData, redact


def test_id_and_phone_numbers_are_masked():
    assert redact("身份证 13010219850315123X 手机 13812345678") == "身份证 1301**********123X 手机 138****5678"


def test_certificate_numbers_and_other_numbers_stay():
    assert redact("证号 1320250000113，共 4500 人次") == "证号 1320250000113，共 4500 人次"


def test_decimal_fractions_stay():
    # Celery's "Task ... succeeded in 0.013215674316706702s" is a time, not an ID number.
    text = "succeeded in 0.013215674316706702s: None; took 1.13812345678 s"
    assert redact(text) == text
    # but a number after a full stop that ends a sentence is still masked
    assert redact("号码。13812345678") == "号码。138****5678"


def test_the_filter_cleans_messages_and_arguments(caplog):
    # given: a logger using the project's handler filter
    logger = logging.getLogger("tests.redact")
    handler = logging.StreamHandler()
    handler.addFilter(RedactPersonalData())
    record = logger.makeRecord("x", logging.INFO, __file__, 1, "import %s failed", ("13010219850315123X",), None)
    # when
    handler.filter(record)
    # then
    assert record.getMessage() == "import 1301**********123X failed"


def test_the_configured_console_handler_has_the_filter():
    root = logging.getLogger()
    filters = [f for h in root.handlers for f in h.filters]
    assert any(isinstance(f, RedactPersonalData) for f in filters)
