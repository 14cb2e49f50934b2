#!/usr/bin/env bash
# redis-script.sh: the cost inside Redis of one call of Herald's publish
# script, for one or more builds of it, measured alone.
#
# A fresh redis-server is pinned to the first core and redis-benchmark, on
# the second, calls the script (EVALSHA, 4 clients, one channel, buffer
# length 10, a 16-byte body) as a publishing node would. The figure is
# Redis's own `usec_per_call` from INFO commandstats, so neither Herald nor
# the network counts. The builds are alternated, round after round.
#
#   bench/redis-script.sh [--rounds N] [--calls N] [--node-max-entries "100 16"] REV...
#
# REV is a git revision of this repository, or "work" for the working tree.
# --node-max-entries runs every REV under each of these stream-node-max-entries
# settings (Redis's default is 100).
set -euo pipefail

ROUNDS=3 CALLS=40000 NODEMAX="100"
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
revs=()
while (($#)); do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--calls) CALLS=$2; shift 2 ;;
	--node-max-entries) NODEMAX=$2; shift 2 ;;
	-h | --help) usage ;;
	-*) echo "unknown option $1" >&2; usage 2 ;;
	*) revs+=("$1"); shift ;;
	esac
done
((${#revs[@]})) || usage 2
for c in redis-server redis-cli redis-benchmark taskset; do
	command -v "$c" >/dev/null || { echo "redis-script.sh needs $c (apt-get install -y redis-server util-linux)" >&2; exit 1; }
done

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
rpid=""
cleanup() {
	[[ -n $rpid ]] && kill "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# show REV PATH: a file of the repository at REV ("work": the working tree).
show() {
	if [[ $1 == work ]]; then cat "$root/$2"; else git -C "$root" show "$1:$2"; fi
}

# The script as the engine builds it (internal/store/redis/scripts.go): the
# buffer rules' constants, common.lua, publish.lua.
for rev in "${revs[@]}"; do
	buf=$(show "$rev" internal/store/buffer/buffer.go)
	cap=$(sed -n 's/^[[:space:]]*InflightCap[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' <<<"$buf")
	ttl=$(sed -n 's/^[[:space:]]*InflightTTL[[:space:]]*=[[:space:]]*\([0-9]*\)[[:space:]]*\*[[:space:]]*time.Second.*/\1/p' <<<"$buf")
	[[ -n $cap && -n $ttl ]] || { echo "cannot read the buffer rules of $rev" >&2; exit 1; }
	{
		printf 'local INFLIGHT_CAP = %s\nlocal INFLIGHT_TTL = %s\n' "$cap" $((ttl * 1000))
		show "$rev" internal/store/redis/lua/common.lua
		show "$rev" internal/store/redis/lua/publish.lua
	} >"$work/$rev.lua"
done

taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$work" --logfile "$work/redis.log" &
rpid=$!
for ((i = 0; i < 50; i++)); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

echo "rev node-max-entries usec_per_call (round 1..$ROUNDS)"
declare -A res
for ((round = 1; round <= ROUNDS; round++)); do
	for nm in $NODEMAX; do
		for rev in "${revs[@]}"; do
			sha=$(redis-cli -p "$port" script load "$(cat "$work/$rev.lua")")
			redis-cli -p "$port" flushall >/dev/null
			redis-cli -p "$port" config set stream-node-max-entries "$nm" >/dev/null
			redis-cli -p "$port" config resetstat >/dev/null
			timeout 300 taskset -c 1 redis-benchmark -p "$port" -c 4 -n "$CALLS" -q \
				EVALSHA "$sha" 4 "{c}:m" "{c}:s" "{c}:n" "{c}:f" "16 bytes of body" "text/plain" "" \
				10 0 3600000 3600000 "" "" "{c}:p" PUBLISH node1 0 0 "" >/dev/null
			v=$(redis-cli -p "$port" info commandstats | tr -d '\r' |
				sed -n 's/^cmdstat_evalsha:.*usec_per_call=\([0-9.]*\).*/\1/p')
			res["$rev $nm"]+=" $v"
		done
	done
done
for nm in $NODEMAX; do
	for rev in "${revs[@]}"; do
		echo "$rev $nm${res["$rev $nm"]}"
	done
done
