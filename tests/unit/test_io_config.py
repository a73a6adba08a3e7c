"""The one translation from stream options to librdkafka settings."""

from datetime import timedelta
from types import SimpleNamespace

import confluent_kafka
import pytest

from hop._config import ConsumerConfig, ProducerConfig, auth_settings
from hop.errors import ConfigurationError


def _auth(**kw):
    base = dict(
        username="alice",
        password="pw",
        mechanism="SCRAM-SHA-512",
        protocol="SASL_SSL",
        ssl=True,
        ssl_ca_location="/ca.pem",
        token_endpoint=None,
    )
    base.update(kw)
    return SimpleNamespace(**base)


def test_unknown_stream_option_is_refused_with_the_valid_ones_listed():
    with pytest.raises(ConfigurationError, match=r"unknown option.*bogus.*valid options"):
        ProducerConfig.from_kwargs({"bogus": 1})
    with pytest.raises(ConfigurationError, match="bogus"):
        ConsumerConfig.from_kwargs({"bogus": 1})


def test_user_kafka_config_wins_over_defaults():
    conf = ProducerConfig.from_kwargs(
        {"kafka_config": {"linger.ms": 7, "compression.type": "zstd"}}
    ).librdkafka("h:1", None)
    assert conf["linger.ms"] == 7
    assert conf["compression.type"] == "zstd"


def test_consumer_settings_store_offsets_only_when_handled():
    conf = ConsumerConfig.from_kwargs({}).librdkafka(
        "h:1", "g", None, offset_reset="earliest", eof=True
    )
    assert conf["enable.auto.offset.store"] is False
    assert conf["enable.auto.commit"] is True
    assert conf["auto.offset.reset"] == "earliest"
    assert conf["group.id"] == "g"
    assert "security.protocol" not in conf


def test_produce_timeout_maps_to_message_timeout_and_zero_means_forever():
    conf = ProducerConfig.from_kwargs({"produce_timeout": timedelta(seconds=3)}).librdkafka(
        "h:1", None
    )
    assert conf["message.timeout.ms"] == 3000
    zero = ProducerConfig.from_kwargs({"produce_timeout": 0})
    assert zero.librdkafka("h:1", None)["message.timeout.ms"] == 0
    assert zero.produce_seconds is None


def test_bad_compression_and_backoff_are_refused():
    with pytest.raises(ConfigurationError, match="compression_type"):
        ProducerConfig.from_kwargs({"compression_type": "rar"})
    with pytest.raises(ConfigurationError, match="at least 1 ms"):
        ProducerConfig.from_kwargs({"produce_backoff_time": timedelta(0)})


def test_scram_credential_settings():
    conf = auth_settings(_auth())
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.username"] == "alice"
    assert conf["sasl.password"] == "pw"
    assert conf["ssl.ca.location"] == "/ca.pem"


def test_plaintext_credential_has_no_tls_settings():
    conf = auth_settings(_auth(protocol="SASL_PLAINTEXT", ssl=False))
    assert "ssl.ca.location" not in conf
    assert conf["security.protocol"] == "SASL_PLAINTEXT"


def test_oauthbearer_uses_librdkafkas_builtin_oidc():
    conf = auth_settings(_auth(mechanism="OAUTHBEARER", token_endpoint="https://idp/token"))
    assert conf["sasl.oauthbearer.method"] == "oidc"
    assert conf["sasl.oauthbearer.client.id"] == "alice"
    assert conf["sasl.oauthbearer.client.secret"] == "pw"
    assert conf["sasl.oauthbearer.token.endpoint.url"] == "https://idp/token"
    assert "sasl.username" not in conf


def test_oauthbearer_without_endpoint_is_refused():
    with pytest.raises(ConfigurationError, match="token endpoint"):
        auth_settings(_auth(mechanism="OAUTHBEARER"))


def test_an_unknown_read_option_lists_the_reader_options_among_the_valid_ones():
    from hop._consumer import _READER_OPTIONS

    with pytest.raises(ConfigurationError, match=r"bogus.*valid options are.*read_forever") as info:
        ConsumerConfig.from_kwargs({"bogus": 1}, also=_READER_OPTIONS)
    assert "start_at" in str(info.value)


def test_every_kafka_default_is_a_named_constant_with_its_reason():
    import ast
    from pathlib import Path

    from hop import _config

    body = ast.parse(Path(_config.__file__).read_text(encoding="utf-8")).body
    undocumented, named = [], []
    for node, after in zip(body, [*body[1:], None], strict=True):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.startswith("DEFAULT_"):
                named.append(name)
                documented = (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                              and isinstance(after.value.value, str))
                if not documented:
                    undocumented.append(name)
    assert len(named) >= 9
    assert undocumented == []


def _reader_conf(**kafka_config: object) -> dict[str, object]:
    return ConsumerConfig.from_kwargs({"kafka_config": kafka_config}).librdkafka(
        "b:9092", "g", None, offset_reset="earliest", eof=False
    )


def test_readers_prefetch_at_most_a_mebibyte_and_refill_after_a_millisecond() -> None:
    conf = _reader_conf()
    assert conf["queued.max.messages.kbytes"] == 1024
    assert conf["fetch.max.bytes"] == 1048576
    assert conf["max.partition.fetch.bytes"] == 262144
    assert conf["fetch.queue.backoff.ms"] == 1


def test_fetch_settings_in_kafka_config_win() -> None:
    conf = _reader_conf(**{"queued.max.messages.kbytes": 65536, "fetch.max.bytes": 52428800})
    assert conf["queued.max.messages.kbytes"] == 65536
    assert conf["fetch.max.bytes"] == 52428800


def test_a_bigger_message_max_bytes_raises_the_fetch_limit_librdkafka_requires() -> None:
    conf = _reader_conf(**{"message.max.bytes": 4194304})
    assert conf["fetch.max.bytes"] == 4194304
    # librdkafka accepts it (it checks fetch.max.bytes >= message.max.bytes on creation).
    confluent_kafka.Consumer(conf).close()
