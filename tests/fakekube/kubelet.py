"""What ``/api/v1/nodes/NAME/proxy/...`` answers: a simulated kubelet behind the
apiserver's node proxy (stats/summary, healthz), plus the proxy's own error responses."""
import datetime
import hashlib
import json

from . import errors
from .quantity import QuantityError, to_int

DEFAULT_FS_CAPACITY = 100 * 1024 ** 3


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def internal_ip(node):
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return a.get("address")
    return node["metadata"]["name"]


def default_summary(node):
    """A plausible kubelet Summary (k8s.io/kubelet/pkg/apis/stats/v1alpha1) for ``node``.

    ``runtime.imageFs.usedBytes`` is 0.7 x the sum of ``status.images[].sizeBytes`` (layers
    are shared between images), capacity is the node's ephemeral-storage capacity."""
    name = node["metadata"]["name"]
    status = node.get("status") or {}
    images = status.get("images") or []
    image_sum = sum(int(i.get("sizeBytes") or 0) for i in images)
    cap_s = (status.get("capacity") or {}).get("ephemeral-storage")
    try:
        capacity = to_int(cap_s) if cap_s else DEFAULT_FS_CAPACITY
    except QuantityError:
        capacity = DEFAULT_FS_CAPACITY
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    image_used = int(image_sum * 0.7)
    other_used = 2 * 1024 ** 3 + (h % (6 * 1024 ** 3))    # logs, emptyDirs, OS
    used_total = min(capacity, image_used + other_used)
    available = max(0, capacity - used_total)
    inodes = max(1, capacity // 16384)
    inodes_used = min(inodes, 40_000 + len(images) * 2_000 + h % 50_000)
    t = _now()

    def fs(used):
        return {"time": t, "availableBytes": available, "capacityBytes": capacity,
                "usedBytes": used, "inodesFree": inodes - inodes_used, "inodes": inodes,
                "inodesUsed": inodes_used}

    return {
        "node": {
            "nodeName": name,
            "systemContainers": [],
            "startTime": (node["metadata"].get("creationTimestamp") or t),
            "cpu": {"time": t, "usageNanoCores": 150_000_000 + h % 900_000_000,
                    "usageCoreNanoSeconds": 10 ** 13 + h},
            "memory": {"time": t, "availableBytes": 8 * 1024 ** 3, "usageBytes": 4 * 1024 ** 3,
                       "workingSetBytes": 3 * 1024 ** 3, "rssBytes": 2 * 1024 ** 3,
                       "pageFaults": 1000 + h % 1000, "majorPageFaults": h % 10},
            "fs": fs(used_total),
            "runtime": {"imageFs": fs(image_used), "containerFs": fs(image_used)},
            "rlimit": {"time": t, "maxpid": 4194304, "curproc": 400 + h % 300},
        },
        "pods": [],
    }


def proxy_error(node, status):
    """(http code, content type, body) the apiserver answers when the kubelet fails."""
    if status == 503:
        err = errors.service_unavailable(
            "error trying to reach service: dial tcp %s:10250: connect: connection refused"
            % internal_ip(node))
        return 503, "application/json", err.body()
    if status == 504:
        err = errors.service_unavailable(
            "error trying to reach service: dial tcp %s:10250: i/o timeout" % internal_ip(node))
        err.status["code"] = 504
        err.status["reason"] = "Timeout"
        return 504, "application/json", json.dumps(err.status, separators=(",", ":")).encode()
    # Anything else is the kubelet's own answer, proxied as-is (plain text).
    text = {500: "Internal Error: failed to get node info: node \"%s\" not found"
                 % node["metadata"]["name"],
            502: "Bad Gateway", 404: "404 page not found",
            401: "Unauthorized", 403: "Forbidden"}.get(status, "error %d" % status)
    return status, "text/plain; charset=utf-8", (text + "\n").encode()
