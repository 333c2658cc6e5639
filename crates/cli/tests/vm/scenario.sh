#!/bin/busybox sh
# The cgroup v2 scenario, run as PID 1 of the test machine (see
# ../cgroup_v2.rs): berth's daemon on a cgroup2-only hierarchy, containers
# with limits, update, pause, stats, an OOM kill, a pids limit, a daemon
# crash and removal. Each finding is printed as "V2 key=value" on the
# serial console for the test to check; the machine powers off at the end.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /tmp /run /var/lib/berth
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/lib/berth
insmod /overlay.ko
ip link set lo up
hostname v2vm

say() { echo "V2 $1=$2"; }
say controllers "$(cat /sys/fs/cgroup/cgroup.controllers)"

b="berth -H unix:///run/berth.sock"
daemon() {
  berth daemon -H unix:///run/berth.sock --data-root /var/lib/berth --exec-root /run/berth \
    --iptables=false --allowed-registry 127.0.0.1 >>/tmp/daemon.log 2>&1 &
  dpid=$!
  i=0
  while ! $b version >/dev/null 2>&1; do
    i=$((i+1)); [ $i -gt 600 ] && break; sleep 0.1
  done
}
cgroup_of() { echo "/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/$1/cgroup)"; }
files() {
  for f in memory.max memory.low memory.swap.max cpu.max cpu.weight cpuset.cpus pids.max io.weight; do
    say "$1.$f" "$(cat "$2/$f" 2>&1 | head -n1)"
  done
}

daemon
say daemon_up "$($b version --format '{{.Server.Version}}' >/dev/null 2>&1 && echo yes || echo no)"
say cgroup_version "$($b info --format '{{.CgroupVersion}}' 2>&1)"
$b import -c 'CMD ["sh"]' /busybox.tar busybox:latest >/dev/null 2>&1
say import $?

# Limits at run, as the files and inspect show them.
out=$($b run -d --name lim --network none --memory 64m --memory-reservation 32m --memory-swap 96m \
  --cpus 0.5 --cpu-shares 512 --cpuset-cpus 0 --pids-limit 20 --blkio-weight 300 \
  busybox sleep 1000 2>&1)
say run_lim "$?"
echo "$out" | sed 's/^/OUT /'
pid=$($b inspect -f '{{.State.Pid}}' lim)
cg=$(cgroup_of "$pid")
say cgroup "$cg"
files run "$cg"
say inspect "$($b inspect -f '{{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}} {{.HostConfig.BlkioWeight}}' lim)"
say inner_cgroup "$($b exec lim cat /proc/self/cgroup)"

# Live changes.
out=$($b update --memory 128m --memory-swap 256m --memory-reservation 64m --cpus 1.5 \
  --cpu-shares 1024 --pids-limit 30 --blkio-weight 500 lim 2>&1)
say update "$?"
echo "$out" | sed 's/^/OUT /'
files update "$cg"
say inspect_update "$($b inspect -f '{{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}} {{.HostConfig.BlkioWeight}}' lim)"

# Pause freezes the cgroup.
$b pause lim
say paused "$($b inspect -f '{{.State.Status}}' lim) $(grep frozen "$cg/cgroup.events")"
$b unpause lim
say unpaused "$($b inspect -f '{{.State.Status}}' lim) $(grep frozen "$cg/cgroup.events")"

# stats read the v2 files.
say stats "$($b stats --no-stream --format '{{.MemUsage}}|{{.PIDs}}' lim 2>&1)"
say top "$($b top lim 2>&1 | tail -n1)"

# A process over its memory limit is OOM-killed.
$b run --name oom --network none --memory 32m --memory-swap 32m busybox sh -c 'tail /dev/zero' >/dev/null 2>&1
say oom_exit "$?"
say oom_state "$($b inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oom)"

# The pids limit stops forks.
say forks_refused "$($b run --rm --network none --pids-limit 5 busybox sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait' 2>&1 | grep -c "can't fork")"

# A container that ended, or never started, keeps no cgroup.
say oom_cgroup_left "$([ -d "/sys/fs/cgroup/berth/$($b inspect -f '{{.Id}}' oom)" ] && echo yes || echo no)"
$b run --name bad --network none --memory 20m busybox /no/such/program >/dev/null 2>&1
say bad_exit "$?"
say bad_cgroup_left "$([ -d "/sys/fs/cgroup/berth/$($b inspect -f '{{.Id}}' bad)" ] && echo yes || echo no)"

# rm takes the cgroup away.
$b rm -f lim oom bad >/dev/null
say lim_cgroup_left "$([ -d "$cg" ] && echo yes || echo no)"

# A daemon killed outright: the container lives on in its cgroup, the
# restarted daemon finds it, and rm still cleans up.
$b run -d --name live --network none --memory 50m busybox sleep 1000 >/dev/null
lpid=$($b inspect -f '{{.State.Pid}}' live)
lcg=$(cgroup_of "$lpid")
kill -9 "$dpid"
sleep 1
say live_after_crash "$(kill -0 "$lpid" 2>/dev/null && echo alive || echo dead)"
daemon
say live_state "$($b inspect -f '{{.State.Running}} {{.State.Pid}}' live 2>&1)"
say live_memory_max "$(cat "$lcg/memory.max")"
$b rm -f live >/dev/null
say live_cgroup_left "$([ -d "$lcg" ] && echo yes || echo no)"
say leftover_cgroups "$(find /sys/fs/cgroup/berth -mindepth 1 -type d 2>/dev/null | wc -l)"

kill "$dpid"
sleep 0.5
sed 's/^/LOG /' /tmp/daemon.log | tail -n 40
echo "V2 END=1"
poweroff -f
