#!/usr/bin/python3
"""A minimal CRI (runtime.v1) client for the engine checks.

Only the calls and fields the checks use. The protobuf messages are encoded
and decoded by hand (the wire format is small), with the field numbers of
CRI v1's api.proto, so no generated stubs are needed: grpcio sends the raw
bytes (Debian's python3-grpcio).

  cri.py SOCKET version
  cri.py SOCKET run-pod NAME HANDLER LOGDIR CGROUP_PARENT      -> pod id
  cri.py SOCKET create POD_ID POD_NAME LOGDIR CGROUP_PARENT IMAGE NAME
         [--env K=V] [--cwd DIR] [--user UID[:GID]] [--read-only]
         [--memory BYTES] [--tty] [--log PATH] -- CMD...       -> container id
  cri.py SOCKET start ID
  cri.py SOCKET exec ID TIMEOUT CMD...      stdout to stdout, stderr to
                                            stderr, exits with its code
  cri.py SOCKET status ID                   -> JSON {state, exit_code, reason}
  cri.py SOCKET update ID MEMORY_BYTES     memory limit only
  cri.py SOCKET stop ID TIMEOUT
  cri.py SOCKET rm ID
  cri.py SOCKET stop-pod ID
  cri.py SOCKET rm-pod ID

Errors: the gRPC status is printed on stderr and the exit code is 100.
"""

import json
import sys

import grpc

RUNTIME = "/runtime.v1.RuntimeService/"

# --- protobuf wire format ---------------------------------------------------


def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_int(num, value):
    """Varint field (int32, int64, uint32, bool, enum)."""
    if not value:
        return b""
    return _varint(num << 3) + _varint(int(value))


def f_bytes(num, data):
    """Length-delimited field: string, bytes or an embedded message."""
    if isinstance(data, str):
        data = data.encode()
    return _varint((num << 3) | 2) + _varint(len(data)) + data


def f_str(num, s):
    return f_bytes(num, s) if s else b""


def f_map(num, mapping):
    """map<string,string>: repeated entries {1: key, 2: value}."""
    return b"".join(
        f_bytes(num, f_bytes(1, k) + f_bytes(2, v)) for k, v in mapping.items()
    )


def decode(buf):
    """Decode one message level: {field number: [values]} (ints or bytes)."""
    out = {}
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _read_varint(buf, i)
        elif wt == 2:
            ln, i = _read_varint(buf, i)
            val = buf[i : i + ln]
            i += ln
        elif wt == 1:
            val = buf[i : i + 8]
            i += 8
        elif wt == 5:
            val = buf[i : i + 4]
            i += 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        out.setdefault(num, []).append(val)
    return out


def _read_varint(buf, i):
    shift = 0
    n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def first(msg, num, default=None):
    vals = msg.get(num)
    return vals[0] if vals else default


def signed32(n):
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n


# --- CRI messages (field numbers from runtime/v1/api.proto) -----------------

# NamespaceMode
POD, CONTAINER, NODE = 0, 1, 2


def namespace_option():
    # NamespaceOption: network=1, pid=2, ipc=3. Host network (no CNI here),
    # own PID namespace, pod IPC.
    return f_int(1, NODE) + f_int(2, CONTAINER) + f_int(3, POD)


def pod_config(name, logdir, cgroup_parent):
    metadata = (  # PodSandboxMetadata
        f_str(1, name) + f_str(2, name + "-uid") + f_str(3, "berth-engines")
    )
    sandbox_security = f_bytes(1, namespace_option())  # LinuxSandboxSecurityContext
    linux = f_str(1, cgroup_parent) + f_bytes(2, sandbox_security)  # LinuxPodSandboxConfig
    return (  # PodSandboxConfig
        f_bytes(1, metadata)
        # no hostname: the pod shares the host's network and UTS namespaces
        + f_str(3, logdir)  # log_directory
        + f_bytes(8, linux)
    )


def container_config(name, image, cmd, env, cwd, user, read_only, memory, tty, log):
    uid = gid = None
    if user:
        uid, _, gid = user.partition(":")
    security = (  # LinuxContainerSecurityContext
        f_bytes(3, namespace_option())
        + (f_bytes(5, f_int(1, int(uid)) or b"") if uid is not None else b"")
        + f_int(7, read_only)
        + (f_bytes(12, f_int(1, int(gid)) or b"") if gid else b"")
    )
    resources = f_int(4, memory)  # LinuxContainerResources.memory_limit_in_bytes
    linux = (f_bytes(1, resources) if resources else b"") + f_bytes(2, security)
    cfg = (
        f_bytes(1, f_str(1, name))  # ContainerMetadata
        + f_bytes(2, f_str(1, image))  # ImageSpec
        + b"".join(f_bytes(3, c) for c in cmd)  # command
        + f_str(5, cwd)
        + b"".join(
            f_bytes(6, f_bytes(1, k) + f_bytes(2, v))  # KeyValue
            for k, v in (e.split("=", 1) for e in env)
        )
        + f_str(11, log)
        + f_int(14, tty)
        + f_bytes(15, linux)
    )
    return cfg


# --- calls ----------------------------------------------------------------


def call(channel, method, request, timeout=120):
    fn = channel.unary_unary(RUNTIME + method)
    return decode(fn(request, timeout=timeout))


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    sock, cmd, args = argv[1], argv[2], argv[3:]
    channel = grpc.insecure_channel("unix://" + sock)
    try:
        return run(channel, cmd, args)
    except grpc.RpcError as e:
        print("cri %s: %s: %s" % (cmd, e.code().name, e.details()), file=sys.stderr)
        return 100


def run(ch, cmd, args):
    if cmd == "version":
        r = call(ch, "Version", f_str(1, "v1"))
        print(first(r, 2, b"").decode(), first(r, 3, b"").decode(), first(r, 4, b"").decode())
    elif cmd == "run-pod":
        name, handler, logdir, cgparent = args
        req = f_bytes(1, pod_config(name, logdir, cgparent)) + f_str(2, handler)
        r = call(ch, "RunPodSandbox", req)
        print(first(r, 1).decode())
    elif cmd == "create":
        pod_id, pod_name, logdir, cgparent, image, name = args[:6]
        rest = args[6:]
        env, cwd, user, ro, mem, tty, log = [], "", "", False, 0, False, ""
        while rest and rest[0] != "--":
            opt = rest.pop(0)
            if opt == "--env":
                env.append(rest.pop(0))
            elif opt == "--cwd":
                cwd = rest.pop(0)
            elif opt == "--user":
                user = rest.pop(0)
            elif opt == "--read-only":
                ro = True
            elif opt == "--memory":
                mem = int(rest.pop(0))
            elif opt == "--tty":
                tty = True
            elif opt == "--log":
                log = rest.pop(0)
            else:
                print("cri create: unknown option " + opt, file=sys.stderr)
                return 2
        command = rest[1:] if rest else []
        cfg = container_config(name, image, command, env, cwd, user, ro, mem, tty, log)
        req = (
            f_str(1, pod_id)
            + f_bytes(2, cfg)
            + f_bytes(3, pod_config(pod_name, logdir, cgparent))
        )
        r = call(ch, "CreateContainer", req)
        print(first(r, 1).decode())
    elif cmd == "start":
        call(ch, "StartContainer", f_str(1, args[0]))
    elif cmd == "exec":
        cid, timeout, command = args[0], int(args[1]), args[2:]
        req = f_str(1, cid) + b"".join(f_bytes(2, c) for c in command) + f_int(3, timeout)
        r = call(ch, "ExecSync", req, timeout=timeout + 30)
        sys.stdout.buffer.write(first(r, 1, b""))
        sys.stderr.buffer.write(first(r, 2, b""))
        sys.stdout.flush()
        return signed32(first(r, 3, 0))
    elif cmd == "status":
        r = call(ch, "ContainerStatus", f_str(1, args[0]))
        st = decode(first(r, 1, b""))
        states = ["CREATED", "RUNNING", "EXITED", "UNKNOWN"]
        print(
            json.dumps(
                {
                    "state": states[first(st, 3, 0)],
                    "exit_code": signed32(first(st, 7, 0)),
                    "reason": first(st, 10, b"").decode(),
                    "message": first(st, 11, b"").decode(),
                }
            )
        )
    elif cmd == "update":
        resources = f_int(4, int(args[1]))  # memory_limit_in_bytes
        call(ch, "UpdateContainerResources", f_str(1, args[0]) + f_bytes(2, resources))
    elif cmd == "stop":
        call(ch, "StopContainer", f_str(1, args[0]) + f_int(2, int(args[1])))
    elif cmd == "rm":
        call(ch, "RemoveContainer", f_str(1, args[0]))
    elif cmd == "stop-pod":
        call(ch, "StopPodSandbox", f_str(1, args[0]))
    elif cmd == "rm-pod":
        call(ch, "RemovePodSandbox", f_str(1, args[0]))
    else:
        print("cri.py: unknown command " + cmd, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
