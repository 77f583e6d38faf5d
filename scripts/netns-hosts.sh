#!/usr/bin/env bash
# netns-hosts.sh up N [DELAY_MS] [RATE_MBIT] | down: N network "hosts" on this machine
# for distributed tests: namespaces cohort-h1..hN, each joined by a veth pair to a
# bridge in the root namespace (10.77.0.254/24); host i has 10.77.0.i. DELAY_MS adds
# that latency to each host's outgoing packets with tc netem (so 2 x DELAY between two
# hosts each way), RATE_MBIT a bandwidth limit with tc tbf. Needs root (ip netns, tc).
# mpirun reaches the hosts through scripts/netns-agent.sh (--mca plm_rsh_agent).
set -euo pipefail
cmd=${1:-}
down() {
  for ns in $(ip netns list | awk '/^cohort-h[0-9]+/{print $1}'); do ip netns del "$ns"; done
  for link in $(ip -o link show | awk -F': ' '$2 ~ /^cveth[0-9]+/{split($2, a, "@"); print a[1]}'); do
    ip link del "$link"
  done
  ip link del cohort-br0 2>/dev/null || true
}
case $cmd in
  up)
    n=${2:?number of hosts}
    delay=${3:-0}
    rate=${4:-0}
    down
    ip link add cohort-br0 type bridge
    ip addr add 10.77.0.254/24 dev cohort-br0
    ip link set cohort-br0 up
    for i in $(seq 1 "$n"); do
      ns=cohort-h$i
      ip netns add "$ns"
      ip link add "cveth$i" type veth peer name eth0 netns "$ns"
      ip link set "cveth$i" master cohort-br0 up
      ip netns exec "$ns" ip addr add "10.77.0.$i/24" dev eth0
      ip netns exec "$ns" ip link set eth0 up
      ip netns exec "$ns" ip link set lo up
      if [[ $delay != 0 ]]; then
        # netem needs CONFIG_NET_SCH_NETEM; kernels without it answer "Specified qdisc
        # kind is unknown".
        ip netns exec "$ns" tc qdisc add dev eth0 root handle 1: netem delay "${delay}ms" || {
          echo "netns-hosts: tc netem is not available in this kernel: no added latency" >&2
          exit 1
        }
      fi
      if [[ $rate != 0 ]]; then
        parent=(root)
        [[ $delay != 0 ]] && parent=(parent 1:)
        ip netns exec "$ns" tc qdisc add dev eth0 "${parent[@]}" handle 2: tbf rate "${rate}mbit" \
          burst 256kbit latency 100ms
      fi
    done
    ;;
  down) down ;;
  *) echo "usage: $0 up N [DELAY_MS] [RATE_MBIT] | down" >&2; exit 2 ;;
esac
