# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Read-modify-write against the API server: client-go's ``retry.RetryOnConflict``, once.

Every update this collection makes reads the object, computes the change and writes it with the
``resourceVersion`` it read (or creates it), so a concurrent writer makes the write fail with
409 instead of being silently overwritten. The answer to that 409 is always the same: read
again, compute again, write again, a few times with a short backoff. Node labels, applied
manifests, baselines and the watcher's state all go through ``retry_on_conflict``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, WriteOutcomeUnknown

# client-go's retry.DefaultRetry: 5 steps of ~10 ms (jitter 0.1). Conflicts come from writers
# that just finished, so waiting longer rarely helps; trying again with fresh data does.
DEFAULT_ATTEMPTS = 5
DEFAULT_DELAY = 0.01


def is_conflict(exc):
    """409: the object changed since it was read (Conflict), or was created meanwhile (AlreadyExists)."""
    return isinstance(exc, ApiError) and exc.status == 409


class ConflictsExhausted(ApiError):
    """Every attempt met a 409: somebody keeps changing the object."""


def retry_on_conflict(attempt, what, doing="updated", attempts=DEFAULT_ATTEMPTS, delay=DEFAULT_DELAY,
                      sleep=time.sleep, after_lost_answer=None):
    """Call ``attempt()`` until it returns without a 409; return what it returned.

    ``attempt`` must read the current object itself each time (never reuse a copy read before
    the call) and write with that object's ``resourceVersion``. ``what`` names the object and
    ``doing`` the operation in the final error: ``'ConfigMap apps/x kept changing while being
    applied; gave up after 5 attempts'``. Errors other than 409 propagate at once.

    A write whose answer was lost (``WriteOutcomeUnknown``) is not an error yet: the next attempt
    reads the object and finds out. When it then has nothing left to do, the lost write was
    applied: ``after_lost_answer(result)`` turns that attempt's result into the true one ("it
    changed"). Without it, the lost answer is raised as it is.
    """
    last = None
    lost = None
    for number in range(max(1, int(attempts))):
        if number:
            sleep(delay * random.uniform(1.0, 1.1))
        try:
            result = attempt()
        except WriteOutcomeUnknown as exc:
            if after_lost_answer is None:
                raise
            lost = last = exc
            continue
        except ApiError as exc:
            if not is_conflict(exc):
                raise
            last = exc
            continue
        return after_lost_answer(result) if lost is not None else result
    if isinstance(last, WriteOutcomeUnknown):
        raise last
    raise ConflictsExhausted(
        409, reason="Conflict", verb=last.verb, resource=last.resource, name=last.name,
        namespace=last.namespace, host=last.host,
        message="%s kept changing while being %s; gave up after %d attempts (someone else writes it at the "
                "same time; try again later)" % (what, doing, attempts))
