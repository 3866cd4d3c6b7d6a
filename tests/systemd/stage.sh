#!/bin/bash
# The first process of fresh pid/mount/uts/ipc/net/cgroup namespaces (harness.py starts it
# through `unshare`): builds a root for a real systemd over an overlay of the host's /, then
# execs systemd as PID 1 in it.  Nothing here is visible to the host: the mount namespace is
# private, and every write lands in a tmpfs that dies with the namespace.
#
#   stage.sh RUN_DIR
#
# RUN_DIR/pid receives this process's host pid (for nsenter). SCOOT_TEST_BINDS holds
# space-separated host paths, each made visible read-only at the same path inside.
set -euo pipefail

run=$1
stage=$run/stage
root=$stage/root

# /proc is still the host's at this point, so this is the host pid, not 1.
read -r host_pid _ </proc/self/stat
echo "$host_pid" >"$run/pid.tmp"
mv "$run/pid.tmp" "$run/pid"
# Wait for the harness to move `unshare` out of this cgroup and hand it controllers: only
# then can systemd enable memory, pids and cpu for its units (a cgroup with processes of its
# own cannot pass controllers on).
for _ in $(seq 1000); do
    [[ -e $run/go ]] && break
    sleep 0.01
done
[[ -e $run/go ]] || { echo "stage: the harness never said go" >&2; exit 1; }

# A bind mount is made read-only by remounting the mount, not the file system under it.
bind_ro() {
    mount --bind "$1" "$2"
    mount -o remount,bind,ro "$2"
}

# The writable layer lives in a tmpfs of this mount namespace: gone when systemd exits.
mount -t tmpfs scoot-test "$stage"
mkdir "$stage/upper" "$stage/work" "$root"
mount -t overlay scoot-test -o "lowerdir=/,upperdir=$stage/upper,workdir=$stage/work" "$root"

# API file systems of the new root. /proc/sys and /sys stay read-only so nothing inside
# tunes the host's kernel; the cgroup2 mount shows only the `boot` cgroup (cgroup ns).
mount -t proc proc "$root/proc"
bind_ro "$root/proc/sys" "$root/proc/sys"
bind_ro /sys "$root/sys"
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"
mount -t tmpfs -o mode=755 scoot-test "$root/dev"
mount -t tmpfs -o mode=755 scoot-test "$root/run"
mount -t tmpfs scoot-test "$root/tmp"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$node"
    mknod -m 666 "$root/dev/$name" c "$major" "$minor"
done
ln -s pts/ptmx "$root/dev/ptmx"
# systemd writes its status lines to /dev/console: the harness gave us a pty it reads.
touch "$root/dev/console"
mount --bind "$(tty)" "$root/dev/console"

# Paths of the host the tests need inside and the overlay does not show (submounts of /).
for path in ${SCOOT_TEST_BINDS:-}; do
    mkdir -p "$root$path"
    bind_ro "$path" "$root$path"
done

# The boot target: journald and nothing else the host happens to enable. The network is a
# bare loopback, so the host's "wait until online" services would only wait; mask them.
cat >"$root/etc/systemd/system/scoot-test.target" <<'EOF'
[Unit]
Description=scoot test boot: journald only
Requires=systemd-journald.service
After=systemd-journald.service
EOF
for unit in systemd-networkd-wait-online.service NetworkManager-wait-online.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

mkdir "$root/run/host-root"
cd "$root"
pivot_root . run/host-root
umount -l /run/host-root
rmdir /run/host-root

# Root in here is the host's root (no user namespace): drop the capabilities that would let
# a service reach the host's clock, kernel modules, raw devices, kernel log or audit/MAC.
exec setpriv --bounding-set -sys_module,-sys_time,-sys_rawio,-syslog,-audit_control,-audit_read,-mac_admin,-wake_alarm \
    env -i container=other /lib/systemd/systemd --system --unit=scoot-test.target \
    --log-target=journal --show-status=yes
