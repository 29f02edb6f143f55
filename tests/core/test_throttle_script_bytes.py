"""The rate limit's script call is packed by core.throttles itself (issue 13): the bytes must
be exactly what redis-py would send for the same EVALSHA, for any key and arguments."""

from __future__ import annotations

import pytest
from redis.connection import Connection

from core.throttles import _packed_evalsha

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "args",
    [
        (":1:throttle_verify_2001:db8::1", repr(1765162800.123456), repr(60.0), 30, "1765162800.123456:abcdef012345"),
        (":1:throttle_verify_127.0.0.1", repr(0.5), repr(1.0), 1, "m"),
        ("前缀:1:throttle_verify_张三", repr(1e9), repr(86400.0), 100000, ""),
    ],
)
def test_the_packed_evalsha_is_redis_pys_own(args):
    expected = b"".join(Connection().pack_command("EVALSHA", SHA, 1, *args))
    assert _packed_evalsha(SHA, args) == expected
