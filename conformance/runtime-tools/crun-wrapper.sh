#!/bin/sh
# crun 1.8.1 treats a host whose /sys/fs/cgroup/unified holds a cgroup2 mount
# as "hybrid" and refuses it. Run it in a private mount namespace where that
# mount is covered by an empty tmpfs, so it sees plain cgroup v1. The host's
# mounts are not changed.
exec unshare -m --propagation private sh -c 'umount -l /sys/fs/cgroup/unified && mount -t tmpfs none /sys/fs/cgroup/unified && exec /usr/bin/crun "$@"' crun "$@"
