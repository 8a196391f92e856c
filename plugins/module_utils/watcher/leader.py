# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Leader election on a ``coordination.k8s.io/v1`` Lease, the way client-go's leaderelection does.

Every write is a compare-and-swap on the Lease's resourceVersion, so two candidates can never
both believe they won. A candidate judges expiry by its *own* clock: it notes when it last saw
the Lease change and waits ``leaseDurationSeconds`` from then, so clock skew between machines
does not matter. The leader renews every ``retry_period``; if it cannot renew for
``renew_deadline`` (shorter than the lease duration) it steps down before anyone else may take
over. A leader that finds the Lease held by someone else (an operator's write, or a replica
that judged it expired while this one could not renew) steps down at once: waiting out the
renew deadline could only make two replicas alert at the same time. On a clean stop it releases
the Lease (empty holder, 1 s duration) so a follower takes over at its next try instead of
waiting out the lease.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import logging
import threading
import time

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import namespaced_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, KubeError

_LOG = logging.getLogger("nodewatch.watcher.leader")


def micro_time(now=None):
    """metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    when = datetime.datetime.fromtimestamp(time.time() if now is None else now, datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaign for a Lease on a thread; call ``on_started()``/``on_stopped()`` on changes."""

    def __init__(self, client, namespace, name, identity, lease_duration=15.0, renew_deadline=10.0,
                 retry_period=2.0, on_started=None, on_stopped=None, logger=None,
                 clock=time.monotonic, wall=time.time):
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("leader election needs lease_duration > renew_deadline > retry_period > 0")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = float(lease_duration)
        self.renew_deadline = float(renew_deadline)
        self.retry_period = float(retry_period)
        self.on_started = on_started
        self.on_stopped = on_stopped
        self.log = logger or _LOG
        self._clock = clock
        self._wall = wall
        self._stop = threading.Event()
        self._thread = None
        self._leader = False
        self._observed_spec = None
        self._observed_at = None
        self._held_by = None      # another holder seen in the last attempt, lease still valid
        self.transitions = 0
        # True when the last successful attempt found the Lease still naming this identity: nobody
        # else has held it since this candidate last wrote it.
        self.kept_own_lease = False

    @property
    def path(self):
        return namespaced_path("leases", self.namespace, self.name, group="coordination.k8s.io")

    @property
    def is_leader(self):
        return self._leader

    def start(self):
        self._thread = threading.Thread(target=self._run, name="leader-election")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self, release=True, timeout=5.0):
        """Stop campaigning; a leader releases the Lease when ``release``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        was_leader = self._leader
        self._set_leader(False)
        if release and was_leader:
            self.release()

    # -- the loop ----------------------------------------------------------------------------

    def _run(self):
        last_renew = None
        while not self._stop.is_set():
            ok = False
            try:
                ok = self.try_acquire_or_renew()
            except KubeError as exc:
                self.log.warning("leader election: cannot reach Lease %s/%s: %s", self.namespace, self.name, exc)
            except Exception as exc:
                self.log.error("leader election: unexpected %s: %s", type(exc).__name__, exc, exc_info=True)
            now = self._clock()
            if ok:
                last_renew = now
                if not self._leader:
                    self.log.info("became the leader (Lease %s/%s, identity %s)", self.namespace, self.name,
                                  self.identity)
                    self._set_leader(True)
            elif self._leader and self._held_by is not None:
                self.log.error("lost the leadership: the Lease %s/%s is held by %s now", self.namespace,
                               self.name, self._held_by)
                self._set_leader(False)
            elif self._leader and (last_renew is None or now - last_renew >= self.renew_deadline):
                self.log.error("lost the leadership: the Lease %s/%s could not be renewed for %.0fs",
                               self.namespace, self.name, now - (last_renew or now))
                self._set_leader(False)
            self._stop.wait(self.retry_period)

    def _set_leader(self, leader):
        if leader == self._leader:
            return
        self._leader = leader
        callback = self.on_started if leader else self.on_stopped
        if callback is not None:
            try:
                callback()
            except Exception as exc:
                self.log.error("leader election callback failed: %s: %s", type(exc).__name__, exc, exc_info=True)

    # -- one attempt ---------------------------------------------------------------------------

    def _get(self):
        try:
            return self.client.get(self.path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def _spec(self, previous, now):
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(round(self.lease_duration)),
            "renewTime": micro_time(now),
            "acquireTime": micro_time(now),
            "leaseTransitions": 0,
        }
        if previous:
            transitions = previous.get("leaseTransitions") or 0
            if previous.get("holderIdentity") == self.identity:
                spec["acquireTime"] = previous.get("acquireTime") or spec["acquireTime"]
                spec["leaseTransitions"] = transitions
            else:
                spec["leaseTransitions"] = transitions + 1
        return spec

    def _observe(self, lease):
        spec = lease.get("spec") or {}
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._observed_at = self._clock()

    def try_acquire_or_renew(self):
        """One compare-and-swap round; True when we hold the Lease afterwards."""
        self._held_by = None
        wall = self._wall()
        lease = self._get()
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": self._spec(None, wall)}
            try:
                created = self.client.create(namespaced_path("leases", self.namespace, group="coordination.k8s.io"),
                                             body)
            except ApiError as exc:
                if exc.status == 409:
                    return False  # another candidate created it first
                raise
            self._observe(created)
            self.kept_own_lease = False
            return True
        self._observe(lease)
        spec = self._observed_spec
        holder = spec.get("holderIdentity") or None
        if holder is not None and holder != self.identity:
            duration = spec.get("leaseDurationSeconds") or self.lease_duration
            if self._clock() < self._observed_at + duration:
                self._held_by = holder
                return False  # held by someone else, and not expired by our clock
        body = dict(lease)
        body["spec"] = dict(spec, **self._spec(spec, wall))
        try:
            updated = self.client.replace(self.path, body)
        except ApiError as exc:
            if exc.status == 409:
                return False  # someone else wrote first; look again next round
            raise
        if holder != self.identity:
            self.transitions += 1
        self.kept_own_lease = holder == self.identity
        self._observe(updated)
        return True

    def release(self):
        """Give the Lease up now (only if we still hold it)."""
        try:
            lease = self._get()
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return False
            now = micro_time(self._wall())
            body = dict(lease)
            body["spec"] = dict(lease.get("spec") or {}, holderIdentity="", leaseDurationSeconds=1,
                                renewTime=now, acquireTime=now)
            self.client.replace(self.path, body)
            self.log.info("released the Lease %s/%s", self.namespace, self.name)
            return True
        except KubeError as exc:
            self.log.warning("could not release the Lease %s/%s (a follower takes over when it "
                             "expires): %s", self.namespace, self.name, exc)
            return False
