"""The Twilio signature check against the vector Twilio publishes."""

from __future__ import annotations

from coordinator.sms.signature import twilio_signature, valid_twilio_signature

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+12349013030"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("To", "+18005551212"),
]
EXPECTED = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilio_published_vector() -> None:
    assert twilio_signature("12345", URL, PARAMS) == EXPECTED
    assert twilio_signature("12345", URL, list(reversed(PARAMS))) == EXPECTED  # order of names


def test_valid_and_invalid() -> None:
    assert valid_twilio_signature("12345", URL, PARAMS, EXPECTED)
    assert not valid_twilio_signature("12345", URL, PARAMS, None)
    assert not valid_twilio_signature("12345", URL, PARAMS, "")
    assert not valid_twilio_signature("12346", URL, PARAMS, EXPECTED)
    assert not valid_twilio_signature("12345", URL + "&x=1", PARAMS, EXPECTED)
    assert not valid_twilio_signature("12345", URL, [*PARAMS, ("Body", "1")], EXPECTED)
    assert not valid_twilio_signature("12345", URL, PARAMS, "签名")
    assert not valid_twilio_signature("", URL, PARAMS, EXPECTED)
