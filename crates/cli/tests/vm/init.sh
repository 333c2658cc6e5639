#!/bin/busybox sh
# First stage of the cgroup v2 test machine (see ../cgroup_v2.rs): the
# initramfs root cannot be pivot_root'ed away from, as a container start
# does, so everything moves to a tmpfs and the scenario runs from there.
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t tmpfs -o size=1800m tmpfs /newroot
for e in /*; do
  case "$e" in /newroot|/proc|/sys|/dev) ;; *) /bin/busybox cp -a "$e" /newroot/ ;; esac
done
/bin/busybox mkdir -p /newroot/proc /newroot/sys /newroot/dev
exec /bin/busybox switch_root /newroot /scenario.sh
