# Shared by the QEMU lanes (cgroupv2, systemd, criu): boot a guest under TCG
# with a serial console, show its check lines as they come, and turn its
# closing "N passed, N failed" line into the lane's exit status.
# Source it, then: run_guest LOG LIMIT QEMU_ARGS...; guest_verdict NAME LOG KEEP

# run_guest LOG LIMIT QEMU_ARGS...: boots qemu-system-x86_64 (one vCPU) with
# QEMU_ARGS, stopped after LIMIT seconds; the console goes to LOG. Sets
# GUEST_RC to qemu's exit status.
run_guest() {
    local log=$1 limit=$2
    shift 2
    set +e
    timeout --foreground -k 5 "$limit" qemu-system-x86_64 -accel tcg -smp 1 "$@" \
        -nographic -no-reboot -monitor none </dev/null 2>&1 |
        tr -d '\r' | tee "$log" | grep --line-buffered -E '^(PASS|FAIL|SKIP|INFO|[0-9]+ passed)'
    GUEST_RC=${PIPESTATUS[0]}
    set -e
}

# guest_verdict NAME LOG KEEP: returns 0 when LOG ends the checks with
# "N passed, 0 failed" (N > 0); otherwise says why (NAME prefixes the
# messages; KEEP=1 names the kept console log) and returns 1.
guest_verdict() {
    local name=$1 log=$2 keep=$3 summary failed passed
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1 || true)
    if [[ -z $summary ]]; then
        echo "$name: the guest printed no summary (timeout or crash); last lines:" >&2
        tail -n 30 "$log" >&2
        return 1
    fi
    failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    passed=$(echo "$summary" | sed -E 's/^([0-9]+) passed.*/\1/')
    if ((failed > 0 || passed == 0)); then
        if ((keep)); then echo "$name: console log: $log" >&2; fi
        return 1
    fi
}
