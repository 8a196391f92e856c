"""Realistic, deterministic Node objects (``make_cluster``).

Nodes look like what kubelet + node-lifecycle controller + a cloud provider write on a
v1.31 cluster: labels, taints, conditions with kubelet reasons/messages, addresses,
capacity/allocatable, nodeInfo, and ``status.images`` (at most 50 entries, largest first,
as the kubelet caps and sorts them) drawn from a shared catalog so images repeat across
nodes with the same digest.  IP addresses are documentation/private ranges used as DATA only.
"""
import datetime
import hashlib
import random
import uuid

MiB = 1024 * 1024
GiB = 1024 * MiB
KUBELET_IMAGE_CAP = 50

REGION = "eu-west-1"
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]

# (repository, [tags], approximate size in bytes, role)
# role: base = on every node, cp = control planes, gpu = gpu pool, app = workloads
_CATALOG_SPEC = [
    ("registry.k8s.io/pause", ["3.10"], 320_368, "base"),
    ("registry.k8s.io/kube-proxy", ["v1.31.2"], 30_226_736, "base"),
    ("quay.io/cilium/cilium", ["v1.16.3"], 199_442_870, "base"),
    ("quay.io/prometheus/node-exporter", ["v1.8.2"], 11_736_245, "base"),
    ("cr.fluentbit.io/fluent/fluent-bit", ["3.1.9"], 32_573_812, "base"),
    ("registry.k8s.io/sig-storage/csi-node-driver-registrar", ["v2.11.1"], 11_219_112, "base"),
    ("public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver", ["v1.35.0"], 29_874_432, "base"),
    ("registry.k8s.io/coredns/coredns", ["v1.11.3"], 18_562_039, "sys"),
    ("quay.io/cilium/operator-generic", ["v1.16.3"], 34_126_848, "sys"),
    ("registry.k8s.io/metrics-server/metrics-server", ["v0.7.2"], 19_494_617, "sys"),
    ("registry.k8s.io/kube-state-metrics/kube-state-metrics", ["v2.13.0"], 19_386_542, "sys"),
    ("registry.k8s.io/ingress-nginx/controller", ["v1.11.3", "v1.11.2"], 105_513_212, "sys"),
    ("registry.k8s.io/etcd", ["3.5.15-0"], 56_909_194, "cp"),
    ("registry.k8s.io/kube-apiserver", ["v1.31.2"], 28_052_186, "cp"),
    ("registry.k8s.io/kube-controller-manager", ["v1.31.2"], 26_154_042, "cp"),
    ("registry.k8s.io/kube-scheduler", ["v1.31.2"], 20_111_470, "cp"),
    ("nvcr.io/nvidia/k8s-device-plugin", ["v0.16.2"], 120_381_430, "gpu"),
    ("nvcr.io/nvidia/cuda", ["12.4.1-runtime-ubuntu22.04", "12.2.2-runtime-ubuntu22.04"], 3_253_721_006, "gpu"),
    ("nvcr.io/nvidia/tritonserver", ["24.08-py3"], 7_517_113_343, "gpu"),
    ("nvcr.io/nvidia/pytorch", ["24.08-py3"], 9_876_512_771, "gpu"),
    ("nvcr.io/nvidia/dcgm-exporter", ["3.3.7-3.5.0-ubuntu22.04"], 352_117_248, "gpu"),
    ("docker.io/library/nginx", ["1.27.2", "1.27.1", "1.25.5"], 72_955_450, "app"),
    ("docker.io/library/postgres", ["16.4", "15.8", "14.13"], 153_046_116, "app"),
    ("docker.io/library/redis", ["7.4.1", "7.2.6"], 45_046_316, "app"),
    ("docker.io/library/mysql", ["8.4.3"], 172_914_335, "app"),
    ("docker.io/library/mongo", ["7.0.14"], 258_223_410, "app"),
    ("docker.io/library/busybox", ["1.36.1"], 2_160_406, "app"),
    ("docker.io/library/alpine", ["3.20.3"], 3_623_807, "app"),
    ("docker.io/library/python", ["3.12-slim", "3.11-slim"], 48_212_117, "app"),
    ("docker.io/library/node", ["20-alpine", "22-alpine"], 45_371_844, "app"),
    ("docker.io/library/eclipse-temurin", ["21-jre", "17-jre"], 270_361_126, "app"),
    ("docker.io/bitnami/kafka", ["3.8.0"], 401_532_121, "app"),
    ("docker.io/bitnami/zookeeper", ["3.9.2"], 298_177_431, "app"),
    ("docker.elastic.co/elasticsearch/elasticsearch", ["8.15.2"], 648_431_107, "app"),
    ("docker.io/grafana/grafana", ["11.2.2"], 120_214_881, "app"),
    ("quay.io/prometheus/prometheus", ["v2.54.1"], 110_540_227, "app"),
    ("quay.io/prometheus/alertmanager", ["v0.27.0"], 31_211_580, "app"),
    ("ghcr.io/acme/billing-service", ["2.14.1", "2.14.0", "2.13.7"], 612_441_280, "app"),
    ("ghcr.io/acme/orders-api", ["5.3.0", "5.2.9"], 481_129_655, "app"),
    ("ghcr.io/acme/payments-gateway", ["1.9.4"], 544_901_337, "app"),
    ("ghcr.io/acme/reporting-batch", ["2024.11.3", "2024.10.1"], 1_112_470_002, "app"),
    ("ghcr.io/acme/search-indexer", ["3.1.0"], 1_437_651_993, "app"),
    ("ghcr.io/acme/ml-feature-store", ["0.18.2"], 1_286_004_151, "app"),
    ("ghcr.io/acme/web-frontend", ["4.22.0", "4.21.3"], 96_551_204, "app"),
    ("ghcr.io/acme/notification-worker", ["1.4.2"], 418_772_903, "app"),
    ("ghcr.io/acme/inventory-sync", ["7.0.1"], 702_306_914, "app"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/data/etl-runner", ["v42", "v41"], 861_117_390, "app"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/data/spark-executor", ["3.5.2-r7"], 1_532_883_201, "app"),
    ("docker.io/istio/proxyv2", ["1.23.2"], 94_601_235, "app"),
    ("docker.io/openpolicyagent/opa", ["0.69.0-static"], 33_201_557, "app"),
    ("quay.io/jetstack/cert-manager-controller", ["v1.16.1"], 22_880_712, "app"),
    ("docker.io/hashicorp/vault", ["1.18.0"], 156_339_205, "app"),
    ("docker.io/rabbitmq", ["3.13-management"], 263_414_788, "app"),
    ("docker.io/clickhouse/clickhouse-server", ["24.8"], 532_209_115, "app"),
    ("docker.io/minio/minio", ["RELEASE.2024-10-13T13-34-11Z"], 170_334_102, "app"),
    ("docker.io/jenkins/inbound-agent", ["3261.v9c670a_4748a_9-1-jdk21"], 481_223_504, "app"),
    ("docker.io/sonarsource/sonarqube", ["10.7-community"], 1_046_118_229, "app"),
]


def _digest(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class CatalogImage:
    __slots__ = ("repo", "tags", "digest", "size", "role")

    def __init__(self, repo, tags, digest, size, role):
        self.repo, self.tags, self.digest, self.size, self.role = repo, tags, digest, size, role

    def names(self, style="both"):
        d = "%s@%s" % (self.repo, self.digest)
        t = ["%s:%s" % (self.repo, tag) for tag in self.tags]
        if style == "digest":
            return [d]
        if style == "tag":
            return t
        return [d] + t


def _build_catalog():
    out = []
    for repo, tags, size, role in _CATALOG_SPEC:
        for i, tag in enumerate(tags):
            # older versions differ a little in size
            jitter = (hashlib.sha256((repo + tag).encode()).digest()[0] - 128) / 128 * 0.004
            sz = int(size * (1 - 0.03 * i + jitter))
            extra = []
            if repo == "docker.io/library/nginx" and tag == "1.27.2":
                extra = ["1.27"]  # one digest known under two tags
            out.append(CatalogImage(repo, [tag] + extra, _digest(repo + ":" + tag), sz, role))
    return out


CATALOG = _build_catalog()
_BY_ROLE = {}
for _img in CATALOG:
    _BY_ROLE.setdefault(_img.role, []).append(_img)

# instance type -> (arch, cpu, memory Ki, pods, gpu)
INSTANCE_TYPES = {
    "m5.xlarge": ("amd64", 4, 16093828, 58, 0),
    "m5.2xlarge": ("amd64", 8, 32386732, 58, 0),
    "r6i.4xlarge": ("amd64", 16, 130599300, 110, 0),
    "m7g.2xlarge": ("arm64", 8, 32291532, 58, 0),
    "g5.4xlarge": ("amd64", 16, 65049056, 110, 1),
}
# pool name -> (instance type, share of workers)
POOLS = [("worker-a", "m5.2xlarge", 0.55), ("worker-b", "r6i.4xlarge", 0.25),
         ("worker-c", "m7g.2xlarge", 0.12), ("gpu-a", "g5.4xlarge", 0.08)]
EPHEMERAL_CAPACITIES = ["101430960Ki", "101430960Ki", "209702892Ki", "100Gi", "52416492Ki"]


def _ts(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_names(n, rng):
    n_cp = 0 if n <= 0 else (1 if n < 5 else 3)
    names = [("cp-%d" % (i + 1), "cp", "m5.xlarge") for i in range(n_cp)]
    workers = n - n_cp
    counts = [int(workers * share) for dummy, dummy, share in POOLS]
    counts[0] += workers - sum(counts)
    for (pool, itype, dummy), c in zip(POOLS, counts):
        names.extend(("%s-%d" % (pool, i + 1), pool, itype) for i in range(c))
    return names


def make_cluster(n_nodes, seed=0, images_per_node=(0, 50), not_ready_fraction=0.05,
                 cordoned_fraction=0.05, disk_pressure_fraction=0.02,
                 no_ephemeral_fraction=0.02, full_images_fraction=0.2, now=None, name_prefix=""):
    """Return ``n_nodes`` realistic Node dicts (apiVersion/kind set), deterministic per seed.

    ``now`` (a datetime, default: current UTC time) anchors heartbeats and timestamps;
    ``name_prefix`` is put before every node name (to add a second batch of distinct nodes)."""
    rng = random.Random(seed)
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    created_base = now - datetime.timedelta(days=120)
    lo, hi = images_per_node
    hi = min(hi, KUBELET_IMAGE_CAP)
    lo = max(0, min(lo, hi))
    layout = [(name_prefix + name, pool, itype) for name, pool, itype in _node_names(n_nodes, rng)]
    idx = list(range(len(layout)))
    worker_idx = [i for i in idx if layout[i][1] != "cp"]
    n_not_ready = int(round(n_nodes * not_ready_fraction))
    n_cordoned = int(round(n_nodes * cordoned_fraction))
    n_disk = int(round(n_nodes * disk_pressure_fraction))
    n_noeph = int(round(n_nodes * no_ephemeral_fraction))
    # about a fifth of the cordoned nodes are also not ready (someone is draining them)
    overlap = min(n_not_ready, n_cordoned // 5)
    pick = rng.sample(worker_idx, min(len(worker_idx), n_not_ready + n_cordoned - overlap + n_disk))
    not_ready = set(pick[:n_not_ready])
    cordoned = set(pick[:overlap]) | set(pick[n_not_ready:n_not_ready + n_cordoned - overlap])
    disk_pressure = set(pick[n_not_ready + n_cordoned - overlap:])
    no_eph = set(rng.sample(worker_idx, min(len(worker_idx), n_noeph)))
    nodes = []
    for i, (name, pool, itype) in enumerate(layout):
        arch, cpu, mem_ki, pods, gpus = INSTANCE_TYPES[itype]
        zone = ZONES[i % 3]
        is_cp = pool == "cp"
        octet3, octet4 = 16 + (i // 250), 10 + (i % 250)
        ip = "10.0.%d.%d" % (octet3, octet4)
        created = created_base + datetime.timedelta(minutes=7 * i + rng.randint(0, 300))
        labels = {
            "beta.kubernetes.io/arch": arch,
            "beta.kubernetes.io/instance-type": itype,
            "beta.kubernetes.io/os": "linux",
            "failure-domain.beta.kubernetes.io/region": REGION,
            "failure-domain.beta.kubernetes.io/zone": zone,
            "kubernetes.io/arch": arch,
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": itype,
            "topology.kubernetes.io/region": REGION,
            "topology.kubernetes.io/zone": zone,
        }
        taints = []
        if is_cp:
            labels["node-role.kubernetes.io/control-plane"] = ""
            labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
            taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
        else:
            labels["node.example.com/pool"] = pool
        if gpus:
            labels["nvidia.com/gpu.present"] = "true"
            taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})
        hb = now - datetime.timedelta(seconds=rng.randint(5, 40))
        transition = created + datetime.timedelta(minutes=2)
        ready_status = "True"
        conditions = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]
        cond_transition = {}
        if i in disk_pressure:
            conditions[1] = ("DiskPressure", "True", "KubeletHasDiskPressure", "kubelet has disk pressure")
            cond_transition["DiskPressure"] = now - datetime.timedelta(minutes=rng.randint(3, 90))
            taints.append({"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule",
                           "timeAdded": _ts(cond_transition["DiskPressure"])})
        if i in not_ready:
            down_since = now - datetime.timedelta(minutes=rng.randint(2, 600))
            if rng.random() < 0.5:
                ready_status = "False"
                conditions[3] = ("Ready", "False", "KubeletNotReady",
                                 "container runtime network not ready: NetworkReady=false "
                                 "reason:NetworkPluginNotReady message:Network plugin returns "
                                 "error: cni plugin not initialized")
                cond_transition["Ready"] = down_since
                taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule",
                               "timeAdded": _ts(down_since)})
                taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoExecute",
                               "timeAdded": _ts(down_since)})
            else:
                # the node lifecycle controller marks every condition Unknown
                ready_status = "Unknown"
                conditions = [(t, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
                              for t, dummy, dummy, dummy in conditions]
                for t, dummy, dummy, dummy in conditions:
                    cond_transition[t] = down_since
                hb = down_since - datetime.timedelta(seconds=40)
                taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule",
                               "timeAdded": _ts(down_since)})
                taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute",
                               "timeAdded": _ts(down_since)})
        spec = {"podCIDR": ("10.244.%d.0/24" % i) if i < 256 else
                ("100.%d.%d.0/24" % (64 + i // 256, i % 256)),
                "providerID": "aws:///%s/i-%s" % (zone, hashlib.sha256(("%d-%s" % (seed, name)).encode()).hexdigest()[:17])}
        spec["podCIDRs"] = [spec["podCIDR"]]
        if i in cordoned:
            spec["unschedulable"] = True
            taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                           "timeAdded": _ts(now - datetime.timedelta(minutes=rng.randint(1, 300)))})
        if taints:
            spec["taints"] = taints
        spec = {k: spec[k] for k in ("podCIDR", "podCIDRs", "providerID", "unschedulable", "taints") if k in spec}

        addresses = [{"type": "InternalIP", "address": ip}]
        if is_cp or rng.random() < 0.2:
            addresses.append({"type": "ExternalIP", "address": "203.0.113.%d" % (1 + i % 254)})
        addresses.append({"type": "InternalDNS", "address": "ip-10-0-%d-%d.%s.compute.internal" % (octet3, octet4, REGION)})
        addresses.append({"type": "Hostname", "address": name})

        eph = None if i in no_eph else EPHEMERAL_CAPACITIES[rng.randrange(len(EPHEMERAL_CAPACITIES))]
        capacity = {"cpu": str(cpu)}
        if eph:
            capacity["ephemeral-storage"] = eph
        capacity["hugepages-1Gi"] = "0"
        capacity["hugepages-2Mi"] = "0"
        capacity["memory"] = "%dKi" % mem_ki
        if gpus:
            capacity["nvidia.com/gpu"] = str(gpus)
        capacity["pods"] = str(pods)
        allocatable = dict(capacity)
        allocatable["cpu"] = "%dm" % (cpu * 1000 - 90 - (cpu * 10 if cpu > 4 else 0))
        allocatable["memory"] = "%dKi" % (mem_ki - 1 - 1_023_380 - (cpu * 10240))
        if eph:
            from .quantity import to_int
            allocatable["ephemeral-storage"] = str(int(to_int(eph) * 0.9) - 1_073_741_824)
        if arch == "arm64":
            kernel, os_image = "6.1.112-124.190.amzn2023.aarch64", "Amazon Linux 2023.6.20241031"
        elif rng.random() < 0.5:
            kernel, os_image = "6.1.112-124.190.amzn2023.x86_64", "Amazon Linux 2023.6.20241031"
        else:
            kernel, os_image = "6.8.0-1017-aws", "Ubuntu 22.04.5 LTS"
        kubelet = "v1.31.2" if rng.random() > 0.1 else "v1.30.6"
        node_info = {
            "machineID": uuid.UUID(int=rng.getrandbits(128)).hex,
            "systemUUID": "ec2" + str(uuid.UUID(int=rng.getrandbits(128)))[3:],
            "bootID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "kernelVersion": kernel,
            "osImage": os_image,
            "containerRuntimeVersion": "containerd://1.7.22",
            "kubeletVersion": kubelet,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": arch,
        }
        images = _pick_images(rng, pool, is_cp, gpus, lo, hi, full_images_fraction)
        status = {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [{"type": t, "status": s,
                            "lastHeartbeatTime": _ts(hb),
                            "lastTransitionTime": _ts(cond_transition.get(t, transition)),
                            "reason": r, "message": m} for t, s, r, m in conditions],
            "addresses": addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": node_info,
            "images": images,
        }
        if not images:
            del status["images"]
        node = {
            "kind": "Node", "apiVersion": "v1",
            "metadata": {
                "name": name,
                "creationTimestamp": _ts(created),
                "labels": dict(sorted(labels.items())),
                "annotations": {
                    "alpha.kubernetes.io/provided-node-ip": ip,
                    "csi.volume.kubernetes.io/nodeid": '{"ebs.csi.aws.com":"i-%s"}' % spec["providerID"][-17:],
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": spec,
            "status": status,
        }
        nodes.append(node)
    return nodes


def _pick_images(rng, pool, is_cp, gpus, lo, hi, full_fraction):
    if hi <= 0:
        return []
    if hi >= KUBELET_IMAGE_CAP and rng.random() < full_fraction:
        count = KUBELET_IMAGE_CAP
    else:
        count = rng.randint(lo, hi)
    if count == 0:
        return []
    chosen = list(_BY_ROLE["base"])
    if is_cp:
        chosen += _BY_ROLE["cp"] + [i for i in _BY_ROLE["sys"] if rng.random() < 0.5]
    else:
        chosen += [i for i in _BY_ROLE["sys"] if rng.random() < 0.3]
        if gpus:
            chosen += _BY_ROLE["gpu"]
        apps = list(_BY_ROLE["app"])
        rng.shuffle(apps)
        chosen += apps
    chosen = chosen[:count]
    entries = []
    for img in chosen:
        r = rng.random()
        style = "digest" if r < 0.03 else ("tag" if r < 0.06 else "both")
        entries.append({"names": img.names(style), "sizeBytes": img.size})
    entries.sort(key=lambda e: -e["sizeBytes"])
    return entries
