"""kafka:// URL parsing."""

import pytest

from hop._url import parse_url
from hop.errors import ConfigurationError


def test_url_without_port_gets_default_9092():
    url = parse_url("kafka://example.org/gcn")
    assert url.brokers == ("example.org:9092",)
    assert url.topics == ("gcn",)
    assert url.username is None


def test_url_with_user_several_brokers_and_topics():
    url = parse_url("kafka://al%40ice@h1:9093,h2/t1,t2")
    assert url.username == "al@ice"
    assert url.brokers == ("h1:9093", "h2:9092")
    assert url.topics == ("t1", "t2")
    assert url.bootstrap == "h1:9093,h2:9092"


def test_ipv6_broker_keeps_brackets_and_port():
    assert parse_url("kafka://[::1]:9093/t").brokers == ("[::1]:9093",)
    assert parse_url("kafka://[fe80::2]/t").brokers == ("[fe80::2]:9092",)


def test_url_without_topic_has_empty_topics():
    assert parse_url("kafka://host:1234/").topics == ()
    assert parse_url("kafka://host:1234").topics == ()


def test_password_in_url_is_ignored():
    assert parse_url("kafka://bob:secret@host/t").username == "bob"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://host/t", "must start with 'kafka://'"),
        ("host/t", "must start with 'kafka://'"),
        ("kafka:///t", "no broker address"),
        ("kafka://host:99999/t", "port '99999'"),
        ("kafka://host:abc/t", "port 'abc'"),
        ("kafka://host:/t", "empty port"),
        ("kafka://::1/t", "IPv6 addresses in brackets"),
        ("kafka://[::1/t", "unclosed '['"),
        ("kafka://host/bad topic", "bad topic name 'bad topic'"),
        ("kafka://host/a,,b", "bad topic name ''"),
        ("kafka://@host/t", "empty username"),
        ("kafka://h1,,h2/t", "empty broker address"),
    ],
)
def test_malformed_url_raises_value_error_naming_the_problem(url, fragment):
    with pytest.raises(ValueError, match=None) as info:
        parse_url(url)
    assert isinstance(info.value, ConfigurationError)
    assert fragment in str(info.value)
    assert url in str(info.value)
