"""A per-credential rate limit for the machine APIs (the JSON API and SCIM): a fixed window counted in
Redis, shared by every process. The INCR and EXPIRE go out in one round trip before the credential
lookup and are read after it, so the two round trips overlap (bench/api.py, bench/scim.py); the bucket
is named by the credential's digest, which is known before the lookup. While Redis is unreachable the
count is kept in this process, so the API stays up and still limited."""
import math
import threading
import time
from functools import lru_cache

from limits import parse as parse_limit

from extensions import jobs


@lru_cache(maxsize=16)
def parsed_limit(text):
    """("100 per minute" ->) (amount, window seconds), in Flask-Limiter's syntax."""
    item = parse_limit(text)
    return item.amount, item.get_expiry()


class _LocalCounter:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def incr(self, bucket):
        with self.lock:
            if len(self.counts) > 10000:
                self.counts.clear()
            self.counts[bucket] = self.counts.get(bucket, 0) + 1
            return self.counts[bucket]


_local_counter = _LocalCounter()


class RateCounter:
    """start() sends the count, finish() reads it (always call it: it returns the connection to the
    pool), then exceeded and reset_seconds say what to answer."""

    def __init__(self, bucket, amount, window, window_start):
        self.bucket, self.amount, self.window, self.window_start = bucket, amount, window, window_start
        self.connection = None
        self.count = None

    @classmethod
    def start(cls, name, limit_text):
        amount, window = parsed_limit(limit_text)
        window_start = int(time.time() // window) * window
        counter = cls(jobs.key(f"{name}:{window_start}"), amount, window, window_start)
        pool = jobs.redis.connection_pool
        try:
            counter.connection = pool.get_connection()
            counter.connection.send_packed_command(counter.connection.pack_commands(
                [("INCR", counter.bucket), ("EXPIRE", counter.bucket, window + 1)]))
        except Exception:  # Redis down: count locally rather than refuse or allow everything
            counter._drop_connection()
        return counter

    def finish(self):
        if self.count is not None:
            return self
        if self.connection is not None:
            try:
                self.count = int(self.connection.read_response())
                self.connection.read_response()
                jobs.redis.connection_pool.release(self.connection)
                self.connection = None
            except Exception:
                self._drop_connection()
        if self.count is None:
            self.count = _local_counter.incr(self.bucket)
        return self

    def _drop_connection(self):
        if self.connection is not None:
            self.connection.disconnect()
            jobs.redis.connection_pool.release(self.connection)
        self.connection = None

    @property
    def exceeded(self):
        return self.count > self.amount

    @property
    def remaining(self):
        return max(0, self.amount - self.count)

    def reset_seconds(self):
        """Whole seconds until the window ends, rounded up (RFC 9110 section 10.2.3 Retry-After), so a
        client that waits exactly that long is let in."""
        return max(1, math.ceil(self.window_start + self.window - time.time()))
