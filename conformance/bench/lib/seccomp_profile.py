#!/usr/bin/env python3
"""Write a Docker-like default seccomp profile (an OCI linux.seccomp object).

Default action SCMP_ACT_ERRNO; an allow-list of the syscalls ordinary
programs use (file and memory management, processes, signals, time, polling,
SysV/POSIX IPC, sockets), a few argument-conditioned rules (personality), and
none of the administrative ones (mount, reboot, kexec, modules, bpf, keyrings,
namespaces, clock setting, swap, ...).

Usage: seccomp_profile.py [--unistd PATH] > profile.json
Names the kernel headers at PATH (default: the x86_64 asm/unistd_64.h) do
not know are dropped, so every name resolves on this machine.
"""
import json
import os
import re
import sys

ALLOW = {
    "file I/O": """
        read write open openat openat2 close close_range creat lseek
        pread64 pwrite64 readv writev preadv pwritev preadv2 pwritev2
        sendfile splice tee vmsplice copy_file_range dup dup2 dup3 fcntl
        flock fsync fdatasync sync syncfs sync_file_range truncate ftruncate
        fallocate fadvise64 readahead ioctl
    """,
    "file metadata": """
        stat fstat lstat newfstatat statx statfs fstatfs access faccessat
        faccessat2 chmod fchmod fchmodat fchmodat2 chown fchown lchown
        fchownat utime utimes utimensat futimesat getdents getdents64
        readlink readlinkat rename renameat renameat2 link linkat symlink
        symlinkat unlink unlinkat mkdir mkdirat rmdir mknod mknodat umask
        getcwd chdir fchdir chroot
    """,
    "extended attributes": """
        getxattr lgetxattr fgetxattr setxattr lsetxattr fsetxattr listxattr
        llistxattr flistxattr removexattr lremovexattr fremovexattr
    """,
    "memory": """
        brk mmap munmap mremap mprotect madvise mlock mlock2 munlock mlockall
        munlockall mincore msync membarrier memfd_create memfd_secret
        pkey_alloc pkey_free pkey_mprotect get_mempolicy set_mempolicy mbind
        remap_file_pages process_vm_readv process_vm_writev cachestat
        map_shadow_stack
    """,
    "processes": """
        exit exit_group fork vfork clone clone3 execve execveat wait4 waitid
        kill tkill tgkill getpid getppid gettid getpgid setpgid getpgrp
        getsid setsid getuid geteuid getgid getegid getresuid getresgid
        setuid setgid setreuid setregid setresuid setresgid setfsuid setfsgid
        getgroups setgroups capget capset prctl arch_prctl set_tid_address
        set_robust_list get_robust_list rseq futex futex_waitv sched_yield
        sched_getaffinity sched_setaffinity sched_getparam sched_setparam
        sched_getscheduler sched_setscheduler sched_get_priority_max
        sched_get_priority_min sched_rr_get_interval sched_getattr
        sched_setattr getpriority setpriority getrlimit setrlimit prlimit64
        getrusage times uname sysinfo getcpu ioprio_get ioprio_set
        restart_syscall pidfd_open pidfd_send_signal pidfd_getfd ptrace
        set_thread_area get_thread_area seccomp landlock_create_ruleset
        landlock_add_rule landlock_restrict_self sethostname setdomainname
        process_madvise
    """,
    "signals": """
        rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigsuspend
        rt_sigtimedwait rt_sigqueueinfo rt_tgsigqueueinfo sigaltstack pause
        alarm signalfd signalfd4
    """,
    "time": """
        clock_gettime clock_getres clock_nanosleep nanosleep gettimeofday time
        getitimer setitimer timer_create timer_delete timer_gettime
        timer_settime timer_getoverrun timerfd_create timerfd_gettime
        timerfd_settime
    """,
    "polling and async I/O": """
        poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl
        epoll_wait epoll_pwait epoll_pwait2 eventfd eventfd2 inotify_init
        inotify_init1 inotify_add_watch inotify_rm_watch io_setup io_destroy
        io_getevents io_pgetevents io_submit io_cancel io_uring_setup
        io_uring_enter io_uring_register getrandom
    """,
    "IPC": """
        pipe pipe2 msgget msgsnd msgrcv msgctl semget semop semtimedop semctl
        shmget shmat shmdt shmctl mq_open mq_unlink mq_timedsend
        mq_timedreceive mq_notify mq_getsetattr
    """,
    "sockets": """
        socket socketpair bind connect listen accept accept4 getsockname
        getpeername sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg
        setsockopt getsockopt shutdown
    """,
}

# personality(2) only with the values Docker's profile allows: PER_LINUX,
# PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff.
PERSONALITY_VALUES = [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF]


def known_syscalls(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    return set(re.findall(r"#define __NR_(\w+)\s+\d+", text))


def main(argv):
    unistd = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
    if len(argv) == 3 and argv[1] == "--unistd":
        unistd = argv[2]
    elif len(argv) != 1:
        sys.stderr.write(__doc__)
        return 2
    known = known_syscalls(unistd)
    names, dropped = [], []
    for group in ALLOW.values():
        for name in group.split():
            if name in names or name in dropped:
                continue
            (names if known is None or name in known else dropped).append(name)
    rules = [{"names": sorted(names), "action": "SCMP_ACT_ALLOW"}]
    for value in PERSONALITY_VALUES:
        rules.append({
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}],
        })
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules,
    }
    json.dump(profile, sys.stdout, indent=1)
    sys.stdout.write("\n")
    sys.stderr.write(
        f"{len(names)} syscalls allowed (+ personality with "
        f"{len(PERSONALITY_VALUES)} argument values)"
        + (f"; not in {os.path.basename(unistd)}, dropped: {' '.join(dropped)}" if dropped else "")
        + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
