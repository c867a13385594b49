"""The pure parts of the retry policy: classification of errors, backoff, config checks. (What
real servers answer, and outages, are tested in tests/test_typed_errors.py, tests/test_outages.py.)"""

from __future__ import annotations

import pytest
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    NoPermissionError,
    OutOfMemoryError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_ckpt import ConfigurationError, RetryConfig
from redis_ckpt.redis_io import failures
from redis_ckpt.redis_io.retry import backoff


def test_authentication_errors_are_not_transient_although_redis_py_makes_them_connection_errors() -> None:
    error = AuthenticationError("invalid username-password pair or user is disabled.")
    assert isinstance(error, RedisConnectionError)  # why kind() is asked before the transient check
    assert failures.kind(error) == failures.AUTH


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NoPermissionError("No permissions to access a key"), failures.PERMISSION),
        (ResponseError("Error running script: NOPERM this user has no permissions"), failures.PERMISSION),
        (OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), failures.OOM),
        (ResponseError("DB index is out of range"), failures.BAD_DB),
        (ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), None),
        (RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."), None),
        (BusyLoadingError("Redis is loading the dataset in memory"), None),
        (RedisTimeoutError("Timeout reading from socket"), None),
    ],
)
def test_kinds(error: Exception, expected: str | None) -> None:
    assert failures.kind(error) == expected


def test_a_tls_handshake_timeout_is_a_tls_mismatch_a_plain_connect_timeout_is_not() -> None:
    def timeout_during(cause: BaseException) -> RedisTimeoutError:
        exc = RedisTimeoutError("Timeout connecting to server")
        exc.__context__ = cause  # redis-py raises it inside its `except socket.timeout` block
        return exc

    assert failures.kind(timeout_during(TimeoutError("_ssl.c:989: The handshake operation timed out"))) == (
        failures.TLS_AT_PLAIN
    )
    assert failures.kind(timeout_during(TimeoutError("timed out"))) is None


def test_the_command_an_acl_refused_is_summarized_with_its_keys() -> None:
    assert failures.command_summary(("EVALSHA", "abc", 2, b"k1", "k2", "arg")) == ("EVALSHA", ["k1", "k2"])
    assert failures.command_summary(("HSET", "key", "f", "v")) == ("HSET", ["key"])
    assert failures.command_summary(("MULTI",)) == ("MULTI", [])


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    config = RetryConfig(initial_wait=0.05, max_wait=1.0)
    for retry, ceiling in [(1, 0.05), (2, 0.1), (3, 0.2), (5, 0.8), (6, 1.0), (60, 1.0)]:
        waits = [backoff(config, retry) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)


def test_retry_config_defaults_and_checks() -> None:
    assert RetryConfig() == RetryConfig(attempts=None, initial_wait=0.05, max_wait=1.0, deadline=30.0)
    RetryConfig(attempts=3, initial_wait=0.01, max_wait=0.05)  # the old shape still works
    for bad in ({"attempts": 0}, {"deadline": -1}, {"initial_wait": 2, "max_wait": 1}):
        with pytest.raises(ConfigurationError):
            RetryConfig(**bad)  # type: ignore[arg-type]


def test_the_unavailable_message_has_no_double_period() -> None:
    # redis-py's messages often end in a period ("Connection refused."): the saver's own sentence
    # follows it without "..".
    import logging

    from redis.exceptions import ConnectionError as RedisConnectionError

    from redis_ckpt.config import RetryConfig
    from redis_ckpt.redis_io.retry import RetryPolicy

    policy = RetryPolicy(RetryConfig(), "redis://h:1", logging.getLogger("t"), explain=lambda e, n: None)
    message = str(policy.unavailable(RedisConnectionError("Error 111 connecting. Connection refused."), 3, 1.0))
    assert ".." not in message and "Connection refused. Check that the server is up" in message


def test_a_call_sent_before_an_outage_began_does_not_end_it(caplog: pytest.LogCaptureFixture) -> None:
    # Seen under load: a SIGTERM'd server answered one call sent before the first failure, which
    # ended the outage (INFO), and the next failure started a second one (a second WARNING).
    import logging

    from redis.exceptions import ConnectionError as RedisConnectionError

    from redis_ckpt.config import RetryConfig
    from redis_ckpt.redis_io.retry import RetryPolicy

    logger = logging.getLogger("redis_ckpt.test_policy")
    policy = RetryPolicy(RetryConfig(), "redis://h:1", logger, explain=lambda e, n: None)
    policy.recovered(policy.outages)  # the first success ever
    sent_before = policy.outages
    with caplog.at_level(logging.INFO, logger="redis_ckpt.test_policy"):
        policy._outage_started(RedisConnectionError("Connection closed by server."))
        policy.recovered(sent_before)  # a straggler: the outage goes on
        assert policy.down and [r.levelname for r in caplog.records] == ["WARNING"]
        policy.recovered(policy.outages)  # a call sent during the outage: it is over
        assert not policy.down and [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
