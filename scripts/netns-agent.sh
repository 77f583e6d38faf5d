#!/usr/bin/env bash
# OpenMPI launch agent (--mca plm_rsh_agent) for the hosts of netns-hosts.sh: called as
# `netns-agent.sh [options] 10.77.0.i command...`, runs the command inside namespace
# cohort-hi, as ssh would run it on host i. Each host gets a TMPDIR of its own: real hosts
# do not share /tmp, and OpenMPI's daemons on one machine raced creating their session
# directories under the shared one ("mkdir ... File exists", once in a CI-like run).
while [[ $# -gt 0 && $1 == -* ]]; do shift; done  # ssh-style options OpenMPI may pass
host=$1
shift
tmp=${TMPDIR:-/tmp}/cohort-netns-h${host##*.}
mkdir -p "$tmp"
exec ip netns exec "cohort-h${host##*.}" env TMPDIR="$tmp" /bin/sh -c "$*"
