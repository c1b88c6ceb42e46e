"""Identifiers: UUIDv7 (time-ordered, so ids sort by creation), as 36-character strings.

Within one process the ids are strictly increasing, also within one millisecond (RFC 9562,
section 6.2, method 1: the 74 random bits of an id made in the same millisecond as the previous
one are the previous ones plus one). So rows written in one transaction (a run's check results,
its edges) read back in the order they were added when sorted by id.
"""

from __future__ import annotations

import os
import random
import threading
import time

_RAND_BITS = 74  # 12 bits rand_a + 62 bits rand_b
_lock = threading.Lock()
_last: tuple[int, int] = (0, 0)  # (unix millis, 74 random bits) of the previous id
# Ids must be unique, not unpredictable: a generator seeded from the OS once per process (and again
# in a forked child) instead of os.urandom per id, a system call that gives up the GIL; in a
# Prefect process, whose background threads then take it, that cost milliseconds per recorded task.
_random = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def new_id() -> str:
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        rand = _random.getrandbits(_RAND_BITS)
        last_millis, last_rand = _last
        if millis <= last_millis:
            millis, rand = last_millis, last_rand + 1
            if rand >> _RAND_BITS:  # 2**74 ids in one millisecond: borrow the next one
                millis, rand = millis + 1, 0
        _last = (millis, rand)
    rand_a, rand_b = rand >> 62, rand & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0x2 << 62 | rand_b
    # str(uuid.UUID(int=value)) spelt out: the UUID object's checks and set-up cost more than the id.
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
