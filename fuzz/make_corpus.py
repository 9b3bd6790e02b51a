#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets from real configs: `berth spec`
(default and --rootless) and the shapes the integration tests use (seccomp,
hooks, mounts, resources, user namespaces, sysctls, devices ...). Usage:
fuzz/make_corpus.py [path/to/berth]   (default: target/debug/berth)."""
import copy, json, os, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
berth = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "target", "debug", "berth")


def spec(*flags):
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([berth, "spec", "--bundle", d, *flags], check=True)
        with open(os.path.join(d, "config.json")) as f:
            return json.load(f)


def write(target, name, data):
    path = os.path.join(here, "corpus", target, name)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


default = spec()
rootless = spec("--rootless")
write("config", "runc-default.json", json.dumps(default, indent=2))
write("config", "runc-rootless.json", json.dumps(rootless, indent=2))

variants = {}


def variant(name, fn):
    c = copy.deepcopy(default)
    c["process"]["terminal"] = False
    fn(c)
    variants[name] = c


variant("seccomp-errno", lambda c: c["linux"].update(seccomp={
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}))
variant("seccomp-args", lambda c: c["linux"].update(seccomp={
    "defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1,
    "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                  "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}))
variant("seccomp-notify", lambda c: c["linux"].update(seccomp={
    "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/listener.sock",
    "listenerMetadata": "meta", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}))


def hooks(c):
    h = {"path": "/bin/sh", "args": ["sh", "-c", "cat > /dev/null"], "env": ["A=1"], "timeout": 5}
    c["hooks"] = {k: [h] for k in ["prestart", "createRuntime", "createContainer",
                                   "startContainer", "poststart", "poststop"]}


variant("hooks", hooks)


def mounts(c):
    c["mounts"] += [
        {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "ro", "nosuid"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755", "size=1m"]},
        {"destination": "/cache", "type": "tmpfs", "source": "tmpfs", "options": ["rro", "nosymfollow", "rprivate"]},
        {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["bind", "rw"]},
    ]


variant("mounts", mounts)


def resources(c):
    c["linux"]["resources"] = {
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 64},
        "blockIO": {"weight": 500},
    }


variant("resources", resources)


def userns(c):
    c["linux"]["namespaces"].append({"type": "user"})
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


variant("userns", userns)


def misc(c):
    c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
    c["process"]["oomScoreAdj"] = 321
    c["domainname"] = "berth.example"
    c["linux"]["rootfsPropagation"] = "private"
    c["process"]["rlimits"].append({"type": "RLIMIT_NPROC", "soft": 100, "hard": 200})
    c["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 18}
    c["process"]["env"].append("HOME=/root")
    c["annotations"] = {"org.example.key": "value"}


variant("misc", misc)


def devices(c):
    c["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                              "fileMode": 438, "uid": 0, "gid": 0}]


variant("devices", devices)


def extras(c):
    c["process"]["scheduler"] = {"policy": "SCHED_OTHER", "nice": 5}
    c["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 4}
    c["linux"]["personality"] = {"domain": "LINUX"}
    c["linux"]["namespaces"].append({"type": "time"})
    c["linux"]["timeOffsets"] = {"monotonic": {"secs": 10, "nanosecs": 0}}
    c["process"]["capabilities"]["ambient"] = []


variant("extras", extras)


def joined(c):
    c["linux"]["namespaces"] = [{"type": "pid", "path": "/proc/1/ns/pid"}, {"type": "mount"},
                                {"type": "network", "path": "/proc/self/ns/net"}, {"type": "uts"}]


variant("joined-namespaces", joined)

for name, c in variants.items():
    write("config", name + ".json", json.dumps(c, indent=2))

# Broken configs the hostile tests use.
write("config", "bad-trailing-comma.json", '{"ociVersion": "1.0.2", "process": {,}}')
write("config", "bad-wrong-type.json", json.dumps(dict(default, process="sh")))
write("config", "bad-nested.json", "[" * 200 + "]" * 200)
write("config", "bad-empty.json", "")

# state.json: what create writes, with the config inside.
state = {
    "id": "web", "pid": 4242, "pid_start_time": 123456, "bundle": "/srv/bundles/web",
    "rootfs": "/srv/bundles/web/rootfs", "created": "2024-01-02T03:04:05.000000006Z",
    "owner": "", "annotations": {"a": "b"},
    "cgroup_paths": {"memory": "/sys/fs/cgroup/memory/berth-test/web",
                     "pids": "/sys/fs/cgroup/pids/berth-test/web"},
    "own_pid_namespace": True,
    "hooks": variants["hooks"]["hooks"],
    "config": default,
}
write("state", "created.json", json.dumps(state))
creating = dict(state, pid=0, pid_start_time=0, cgroup_paths={})
del creating["hooks"]
del creating["config"]
write("state", "creating-old.json", json.dumps(creating))
write("state", "minimal.json", json.dumps({
    "id": "x", "pid": 0, "pid_start_time": 0, "bundle": "/b", "rootfs": "/b/r",
    "created": "", "owner": "", "annotations": {}}))

for name, data in {
    "signals": b"TERM\0SIGKILL\x009\0RTMIN+3\0SIGRTMAX-1\0hup\0USR1",
    "ids": b"web\0a/b\0..\0.\0abc-1_2.3+x\0" + b"x" * 1025,
    "bad-signals": b"0\0-1\0065\0RTMIN+99\0SIG\0+\0RTMAX-\0",
}.items():
    write("cli", name, data)
