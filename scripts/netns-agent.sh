#!/usr/bin/env bash
# OpenMPI launch agent (--mca plm_rsh_agent) for the hosts of netns-hosts.sh: called as
# `netns-agent.sh [options] 10.77.0.i command...`, runs the command inside namespace
# cohort-hi, as ssh would run it on host i.
while [[ $# -gt 0 && $1 == -* ]]; do shift; done  # ssh-style options OpenMPI may pass
host=$1
shift
exec ip netns exec "cohort-h${host##*.}" /bin/sh -c "$*"
