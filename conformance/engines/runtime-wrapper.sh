#!/bin/bash
# Template of the logging wrapper that run.sh puts in front of the runtime
# (as $WORK/bin/<runtime name>, with the @...@ placeholders filled in).
# It appends each call's argv and exit code to @CALLS@; it keeps the
# resources given to `update` (stdin or file) and, when a call fails, the
# tail of the --log file the engine passed and the bundle's config.json, in
# @INPUTS@/<pid>-*. It never touches the runtime's stdio otherwise: for
# `create` they are the container's.
calls=@CALLS@
inputs=@INPUTS@
runtime=@RUNTIME@
nsmode=@NSMODE@   # 1: crun on a hybrid host, see run.sh

{
    printf '%s %s argv:' "$(date +%T.%3N)" "$$"
    printf ' %q' "$@"
    echo
} >>"$calls"

lf='' bundle='' resources=''
args=("$@")
while (($#)); do
    case $1 in
    --log) lf=$2; shift ;;
    --log=*) lf=${1#--log=} ;;
    --bundle | -b) bundle=$2; shift ;;
    --bundle=*) bundle=${1#--bundle=} ;;
    --resources | -r) resources=$2; shift ;;
    --resources=*) resources=${1#--resources=} ;;
    esac
    shift
done
set -- "${args[@]}"

invoke() {
    if ((nsmode)); then
        # crun 1.8 refuses a host with a cgroup2 mount at
        # /sys/fs/cgroup/unified ("hybrid"): give it a private mount
        # namespace where that mount is covered by an empty tmpfs.
        # shellcheck disable=SC2016
        unshare -m --propagation private sh -c 'umount -l /sys/fs/cgroup/unified && mount -t tmpfs none /sys/fs/cgroup/unified && exec "$0" "$@"' "$runtime" "$@"
    else
        "$runtime" "$@"
    fi
}

if [[ $resources == - ]]; then
    saved=$inputs/$$-update-resources.json
    cat >"$saved"
    invoke "$@" <"$saved"
    rc=$?
else
    [[ -n $resources && -f $resources ]] && cp "$resources" "$inputs/$$-update-resources.json"
    invoke "$@"
    rc=$?
fi

echo "$(date +%T.%3N) $$ exit $rc" >>"$calls"
if ((rc != 0)); then
    [[ -n $lf && -f $lf ]] && tail -n 5 "$lf" | sed "s/^/$$ log: /" >>"$calls"
    [[ -n $bundle && -f $bundle/config.json ]] && cp "$bundle/config.json" "$inputs/$$-config.json"
fi
exit "$rc"
