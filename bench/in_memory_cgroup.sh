#!/usr/bin/env bash
# Runs a command inside a memory cgroup of its own (cgroup v1, memory.limit_in_bytes),
# so a limit is enforced for real: past it the kernel reclaims, then kills. Under mpirun
# each rank gets its own group. At the end it writes OUT/cgroup.RANK: the group's peak
# (memory.max_usage_in_bytes), how often it hit the limit, and whether the OOM killer ran.
# Usage: bench/in_memory_cgroup.sh LIMIT OUT -- COMMAND...   (LIMIT: 4G, 512M, bytes)
# Needs root and the v1 memory controller mounted read-write at /sys/fs/cgroup/memory.
set -uo pipefail
limit=$1 out=$2
shift 2
[ "${1:-}" = -- ] && shift
rank=${OMPI_COMM_WORLD_RANK:-0}
parent=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
group=$parent/cohort-$$-rank$rank
mkdir "$group" || { echo "in_memory_cgroup: cannot create $group" >&2; exit 2; }
echo "$limit" >"$group/memory.limit_in_bytes"
echo $$ >"$group/cgroup.procs"
"$@"
rc=$?
{
  echo "rank $rank: exit $rc, limit $(cat "$group/memory.limit_in_bytes")," \
       "peak $(cat "$group/memory.max_usage_in_bytes"), hit the limit $(cat "$group/memory.failcnt") times," \
       "$(grep oom_kill "$group/memory.oom_control" | tr '\n' ' ')"
} >"$out/cgroup.$rank"
echo $$ >"$parent/cgroup.procs"
rmdir "$group"
exit $rc
