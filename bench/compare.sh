#!/usr/bin/env bash
# bench/compare.sh: Herald and Nchan side by side on this machine.
#
# Installs Nchan from Debian's packages into a private directory (the system's
# nginx is never touched), builds Herald from this repository, and runs the
# same `herald bench` scenarios against both, each run on a freshly started
# server, then writes a markdown section with a side-by-side table.
#
#   bench/compare.sh                 # full size: 10,000 subscribers, 2 runs
#   bench/compare.sh --quick         # smoke run: 500 subscribers
#   bench/compare.sh --help          # every option
#
# See bench/README.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ORIG_ARGS=("$@")

usage() {
	cat <<'EOF'
usage: bench/compare.sh [options]

Runs herald bench against Herald and Nchan (nginx + libnginx-mod-nchan from
Debian's packages, extracted into a private prefix) on loopback, a fresh
server process for every run, and writes a markdown section with the
side-by-side table.

options (environment variables of the same name in capitals work too):
  --n N              subscribers for fanout and idle (default 10000)
  --messages M       fanout messages (default 20)
  --runs R           runs of every scenario on every server (default 2)
  --cores C          nginx worker_processes and Herald's GOMAXPROCS (default 2)
  --max-n N          subscribers of the max-connections run (default 19000,
                     bounded by the per-process file limit)
  --publishers K     publish scenario: concurrent publishers (default 4)
  --pub-channels C   publish scenario: channels (default 100)
  --pub-messages M   publish scenario: messages (default 20000)
  --pub-duration D   publish scenario: at most this long (default 10s)
  --settle D         idle: wait before reading server memory (default 7s)
  --rate R           fanout scenarios: publish R messages a second (herald bench
                     --rate) instead of back to back with a 10 ms pause, so both
                     servers see the same message rate and latency is not a
                     queue of messages a server accepted faster than it can
                     deliver (default: back to back)
  --lp-n N           fanout-lp: long-poll subscribers (default 2000)
  --lp-messages M    fanout-lp: messages (default 30)
  --poll-interval D  fanout-ip: an interval-poll subscriber's wait after a 304
                     (default 200ms); fanout-ip uses --lp-n and --lp-messages,
                     published at --rate (default 2 a second)
  --ch-n C           channels-es: channels, one EventSource subscriber each
                     (default 10000)
  --ch-messages M    channels-es: messages per channel (default 2)
  --batch B          publish-batch: messages per batch request (default 100)
  --storm-n N        storm-es, storm-ws: subscribers dropped at once and
                     reconnected (default 15000, bounded by the per-process
                     file limit less 5000 for connections a server has not
                     closed yet when their successors arrive)
  --scenarios LIST   subset of: fanout-es fanout-ws fanout-lp fanout-ip channels-es
                     publish publish-batch idle-es idle-ws maxconn storm-es
                     storm-ws (default: all but fanout-lp, fanout-ip,
                     channels-es, publish-batch and the storms, which are named
                     to run)
  --servers LIST     subset of: herald nchan
  --store S          memory (default), redis, redis-nostore or redis-nostore-fast:
                     both servers keep channels in one fresh redis-server per
                     run (Nchan's nchan_use_redis, Herald's use_redis; -nostore:
                     Redis only relays, redis_storage_mode nostore; -fast: and
                     redis_nostore_fastpublish on); Redis's CPU counts in the
                     server CPU rows
  --nodes K          1 (default) or, with a Redis store, 2: subscribers on a
                     second node, so deliveries cross Redis
  --redis-port P     (default 18095; node 2 of each server listens on its port + 10)
  --quick            smoke run: N=500, max-n 1000, storm-n 500, 2000 publishes, settle 2s
  --work DIR         work directory (default /tmp/herald-compare)
  --out FILE         where the markdown goes (default WORK/compare.md)
  --write-docs       also replace the section between <!-- BEGIN COMPARE -->
                     and <!-- END COMPARE --> in docs/benchmarks.md
  --herald-bin PATH  use this herald binary instead of building one (it is
                     also the load tool); default: build the working tree, or
                     the last commit when the working tree does not build
  --head             build the last commit (git archive HEAD), ignoring
                     uncommitted changes in the working tree
  --herald-port P    (default 18092)      --nchan-port P   (default 18091)
  -h, --help
EOF
}

die() { echo "compare.sh: $*" >&2; exit 2; }
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- options
# Precedence: command-line flags, then --quick, then environment, then defaults.
declare -A OPT=()
QUICK=0
WRITE_DOCS=0
BUILD_HEAD=0
while (($#)); do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--quick) QUICK=1 ;;
	--write-docs) WRITE_DOCS=1 ;;
	--head) BUILD_HEAD=1 ;;
	--n | --messages | --runs | --cores | --max-n | --publishers | --pub-channels | --pub-messages | \
		--pub-duration | --settle | --scenarios | --servers | --work | --out | --herald-port | --nchan-port | --herald-bin | \
		--lp-n | --lp-messages | --poll-interval | --ch-n | --ch-messages | --batch | --rate | --store | --nodes | --redis-port | --storm-n)
		(($# >= 2)) || die "$1 needs a value"
		OPT[${1#--}]=$2
		shift
		;;
	--*=*)
		k=${1%%=*}
		set -- "$k" "${1#*=}" "${@:2}"
		continue
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done

N=${N:-10000}
MESSAGES=${MESSAGES:-20}
RUNS=${RUNS:-2}
CORES=${CORES:-2}
MAX_N=${MAX_N:-19000}
PUBLISHERS=${PUBLISHERS:-4}
PUB_CHANNELS=${PUB_CHANNELS:-100}
PUB_MESSAGES=${PUB_MESSAGES:-20000}
PUB_DURATION=${PUB_DURATION:-10s}
SETTLE=${SETTLE:-7s}
LP_N=${LP_N:-2000}
RATE=${RATE:-}
STORE=${STORE:-memory}
NODES=${NODES:-1}
REDIS_PORT=${REDIS_PORT:-18095}
LP_MESSAGES=${LP_MESSAGES:-30}
POLL_INTERVAL=${POLL_INTERVAL:-200ms}
CH_N=${CH_N:-10000}
CH_MESSAGES=${CH_MESSAGES:-2}
BATCH=${BATCH:-100}
STORM_N=${STORM_N:-15000}
SCENARIOS=${SCENARIOS:-"fanout-es fanout-ws publish idle-es idle-ws maxconn"}
SERVERS=${SERVERS:-"herald nchan"}
WORK=${WORK:-/tmp/herald-compare}
OUT=${OUT:-}
HERALD_PORT=${HERALD_PORT:-18092}
HERALD_BIN=${HERALD_BIN:-}
NCHAN_PORT=${NCHAN_PORT:-18091}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-600} # seconds, outer bound of one herald bench run
if ((QUICK)); then
	N=500 MAX_N=1000 STORM_N=500 CH_N=500 PUB_MESSAGES=2000 PUB_DURATION=5s SETTLE=2s
fi
for k in "${!OPT[@]}"; do
	v=${OPT[$k]}
	case $k in
	n) N=$v ;; messages) MESSAGES=$v ;; runs) RUNS=$v ;; cores) CORES=$v ;; max-n) MAX_N=$v ;;
	publishers) PUBLISHERS=$v ;; pub-channels) PUB_CHANNELS=$v ;; pub-messages) PUB_MESSAGES=$v ;;
	pub-duration) PUB_DURATION=$v ;; settle) SETTLE=$v ;; scenarios) SCENARIOS=$v ;; servers) SERVERS=$v ;;
	work) WORK=$v ;; out) OUT=$v ;; herald-port) HERALD_PORT=$v ;; nchan-port) NCHAN_PORT=$v ;;
	herald-bin) HERALD_BIN=$v ;;
	lp-n) LP_N=$v ;; rate) RATE=$v ;; lp-messages) LP_MESSAGES=$v ;; poll-interval) POLL_INTERVAL=$v ;; ch-n) CH_N=$v ;; ch-messages) CH_MESSAGES=$v ;; batch) BATCH=$v ;; storm-n) STORM_N=$v ;;
	store) STORE=$v ;; nodes) NODES=$v ;; redis-port) REDIS_PORT=$v ;;
	esac
done

isnum() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in N MESSAGES RUNS CORES MAX_N PUBLISHERS PUB_CHANNELS PUB_MESSAGES HERALD_PORT NCHAN_PORT BENCH_TIMEOUT LP_N LP_MESSAGES CH_N CH_MESSAGES BATCH NODES REDIS_PORT STORM_N; do
	isnum "${!v}" || die "$v must be a whole number, not '${!v}'"
done
[[ -z $RATE || $RATE =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--rate must be a number of messages a second, not '$RATE'"
[[ $POLL_INTERVAL =~ ^[0-9]+(ms|s)$ ]] || die "--poll-interval must be like 200ms or 1s, not '$POLL_INTERVAL'"
((N >= 1 && MESSAGES >= 1 && CORES >= 1 && MAX_N >= 1 && STORM_N >= 1)) || die "--n, --messages, --cores, --max-n and --storm-n must be at least 1"
((RUNS >= 1 && RUNS <= 20)) || die "--runs must be 1..20"
((HERALD_PORT != NCHAN_PORT)) || die "Herald and Nchan need different ports"
for s in $SCENARIOS; do
	case $s in fanout-es | fanout-ws | fanout-lp | fanout-ip | channels-es | publish | publish-batch | idle-es | idle-ws | maxconn | storm-es | storm-ws) ;; *) die "unknown scenario $s" ;; esac
done
for s in $SERVERS; do
	case $s in herald | nchan) ;; *) die "unknown server $s" ;; esac
done
case $STORE in memory | redis | redis-nostore | redis-nostore-fast) ;; *) die "--store: memory, redis, redis-nostore or redis-nostore-fast, not $STORE" ;; esac
((NODES == 1 || NODES == 2)) || die "--nodes: 1 or 2"
[[ $NODES == 1 || $STORE != memory ]] || die "--nodes 2 needs a Redis store (--store redis or redis-nostore)"
if [[ $STORE != memory ]]; then
	command -v redis-server >/dev/null || die "--store $STORE needs redis-server (apt-get install -y redis-server)"
fi
[[ -n $WORK && $WORK != / ]] || die "bad --work"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
OUT=${OUT:-$WORK/compare.md}
RESULTS=$WORK/results
DOCS=$REPO/docs/benchmarks.md

# Every process this script starts is recorded here and ended on exit.
SERVER_PID=""   # Herald, or the nginx master
SERVER_PIDS=""  # what --server-pid gets: Herald, or the nginx master and workers (and Redis)
MORE_PIDS=""    # further processes of a run: node 2's Herald or nginx master, redis-server
BENCH_PID=""
SAMPLER_PID=""
CREATED_POLICY_RC=0
CREATED_VARLIB=0

# ---------------------------------------------------------------- cleanup
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# stop_pid PID [SIGNAL]: signal it, wait up to 15 s, then SIGKILL.
stop_pid() {
	local pid=$1 sig=${2:-TERM} i
	alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -s "$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		kill -s KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

stop_server() {
	local p others=""
	[[ -n $SERVER_PID ]] || return 0
	for p in $SERVER_PIDS; do [[ $p == "$SERVER_PID" ]] || others+=" $p"; done
	stop_pid "$SERVER_PID" TERM
	for p in $MORE_PIDS; do stop_pid "$p" TERM; done
	MORE_PIDS=""
	# nginx workers end with their master; make sure of it.
	for p in $others; do
		if alive "$p"; then kill -s KILL "$p" 2>/dev/null || true; fi
	done
	SERVER_PID="" SERVER_PIDS=""
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n $BENCH_PID ]] && stop_pid "$BENCH_PID" TERM
	[[ -n $SAMPLER_PID ]] && stop_pid "$SAMPLER_PID" TERM
	[[ -n ${REDIS_PID:-} ]] && stop_pid "$REDIS_PID" TERM
	stop_server
	if ((CREATED_POLICY_RC)); then rm -f /usr/sbin/policy-rc.d; fi
	if ((CREATED_VARLIB)); then rm -rf /var/lib/nginx; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT PID: until PORT accepts connections (PID must stay alive), 20 s at most.
wait_port() {
	local i
	for ((i = 0; i < 200; i++)); do
		port_open "$1" && return 0
		alive "$2" || return 1
		sleep 0.1
	done
	return 1
}

# cpu_busy: "busy total" jiffies of all CPUs from /proc/stat.
cpu_busy() {
	local _cpu user nice sys idle iowait irq softirq steal _rest
	read -r _cpu user nice sys idle iowait irq softirq steal _rest </proc/stat
	echo "$((user + nice + sys + irq + softirq + steal)) $((user + nice + sys + idle + iowait + irq + softirq + steal))"
}

meminfo_kb() { # meminfo_kb KEY
	local k v _u
	while read -r k v _u; do
		[[ $k == "$1:" ]] && { echo "$v"; return 0; }
	done </proc/meminfo
	echo 0
}

# ---------------------------------------------------------------- Nchan
NCHAN_MODE=""   # extracted or installed
NGINX_BIN=""
NCHAN_MODULE=""
NCHAN_VERSION=""
NGINX_PKG_VERSION=""
USE_NS=0        # run nginx in a private mount namespace (see start_nchan)

apt_ready() {
	# apt-cache knows the package only after apt-get update.
	if ! apt-cache show libnginx-mod-nchan >/dev/null 2>&1; then
		log "apt-get update"
		apt-get update -qq >&2
	fi
}

missing_libs() { # missing_libs FILE...: the shared libraries ldd cannot find
	ldd "$@" 2>/dev/null | awk '/not found/ {print $1}' | sort -u
}

install_nchan() {
	local root=$WORK/nchan-root debs=$WORK/debs d p miss libs
	NGINX_BIN=$root/usr/sbin/nginx
	NCHAN_MODULE=$root/usr/lib/nginx/modules/ngx_nchan_module.so
	if [[ ! -x $NGINX_BIN || ! -f $NCHAN_MODULE ]]; then
		command -v apt-get >/dev/null || die "apt-get is needed to fetch Nchan"
		apt_ready
		rm -rf "$debs" "$root"
		mkdir -p "$debs" "$root"
		# Debian 12: the nginx binary is in package nginx (nginx-core only
		# pulls in extra modules); older releases ship it in nginx-core.
		log "apt-get download nginx libnginx-mod-nchan"
		(cd "$debs" && apt-get download -q nginx libnginx-mod-nchan 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
		if ! ls "$debs"/nginx_*.deb >/dev/null 2>&1 || ! [[ $(dpkg-deb -c "$debs"/nginx_*.deb) == *./usr/sbin/nginx* ]]; then
			(cd "$debs" && apt-get download -q nginx-core 2>&1 | grep -v '^W: Download' >&2) || true
		fi
		for d in "$debs"/*.deb; do
			[[ -e $d ]] || continue
			dpkg -x "$d" "$root"
		done
	fi
	if [[ -x $NGINX_BIN && -f $NCHAN_MODULE ]]; then
		miss=$(missing_libs "$NGINX_BIN" "$NCHAN_MODULE")
		if [[ -n $miss ]]; then
			# Install only the libraries the packages depend on (never nginx itself).
			libs=$(for d in "$debs"/*.deb; do dpkg-deb -f "$d" Depends 2>/dev/null; done |
				tr ',|' '\n\n' | awk '{print $1}' | grep -E '^lib' | grep -v '^libnginx' | sort -u || true)
			log "missing shared libraries ($(echo $miss)); apt-get install $(echo $libs)"
			[[ -n $libs ]] && apt-get install -y -qq $libs >&2 || true
			miss=$(missing_libs "$NGINX_BIN" "$NCHAN_MODULE")
		fi
		if [[ -z $miss ]]; then
			NCHAN_MODE=extracted
			NCHAN_VERSION=$(dpkg-deb -f "$debs"/libnginx-mod-nchan_*.deb Version 2>/dev/null || echo unknown)
			NGINX_PKG_VERSION=$(dpkg-deb -f "$debs"/nginx_*.deb Version 2>/dev/null || echo unknown)
			return 0
		fi
		log "the extracted nginx cannot run (missing: $(echo $miss)); installing the packages instead"
	fi
	# Fallback: the system packages, with the service kept from starting.
	command -v apt-get >/dev/null || die "apt-get is needed to install Nchan"
	apt_ready
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		CREATED_POLICY_RC=1
	fi
	log "apt-get install -y nginx libnginx-mod-nchan (service start disabled)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-nchan >&2
	if ((CREATED_POLICY_RC)); then rm -f /usr/sbin/policy-rc.d; CREATED_POLICY_RC=0; fi
	NGINX_BIN=/usr/sbin/nginx
	NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
	[[ -x $NGINX_BIN && -f $NCHAN_MODULE ]] || die "nginx or ngx_nchan_module.so missing after apt-get install"
	NCHAN_MODE=installed
	NCHAN_VERSION=$(dpkg-query -W -f '${Version}' libnginx-mod-nchan)
	NGINX_PKG_VERSION=$(dpkg-query -W -f '${Version}' nginx)
}

# The module's create_main_conf fixes its temp path to nginx's built-in
# client_body_temp_path (/var/lib/nginx/body; nchan_message_temp_path then
# fails as "duplicate"), and nginx creates that directory at startup. So
# nginx runs in a private mount namespace with WORK/varlib mounted over
# /var/lib; where namespaces are not allowed, /var/lib/nginx is created
# (and removed at exit) if it is missing.
prepare_varlib() {
	mkdir -p "$WORK/varlib/nginx"
	if [[ ${NCHAN_NO_NAMESPACE:-0} != 1 ]] && command -v unshare >/dev/null && unshare --mount --propagation private \
		sh -c 'mount --bind "$1" /var/lib' sh "$WORK/varlib" 2>/dev/null; then
		USE_NS=1
	elif [[ ! -e /var/lib/nginx ]]; then
		mkdir -p /var/lib/nginx
		CREATED_VARLIB=1
	fi
}

NCHAN_PREFIX=""
# write_nchan_conf [NODE]: node 1 in WORK/nchan-prefix on NCHAN_PORT, node 2
# in WORK/nchan-prefix2 on NCHAN_PORT + 10; NCHAN_PREFIX is node 1's.
write_nchan_conf() {
	local node=${1:-1} prefix=$WORK/nchan-prefix port=$NCHAN_PORT redis_lines=""
	if ((node == 2)); then prefix=$WORK/nchan-prefix2 port=$((NCHAN_PORT + 10)); fi
	((node == 1)) && NCHAN_PREFIX=$prefix
	if [[ $STORE != memory ]]; then
		redis_lines="nchan_redis_url redis://127.0.0.1:$REDIS_PORT; nchan_use_redis on;"
		[[ $STORE == redis-nostore* ]] && redis_lines+=" nchan_redis_storage_mode nostore;"
		[[ $STORE == redis-nostore-fast ]] && redis_lines+=" nchan_redis_nostore_fastpublish on;"
	fi
	rm -rf "$prefix"
	mkdir -p "$prefix/logs" "$prefix/tmp"
	local user_line=""
	# Outside a namespace, keep an existing /var/lib/nginx/body's owner.
	if ((!USE_NS)) && [[ -d /var/lib/nginx/body ]]; then
		user_line="user $(stat -c %U /var/lib/nginx/body);"
	fi
	cat >"$prefix/nchan.conf" <<EOF
# Nchan configured like Herald's built-in default (bench/compare.sh).
load_module $NCHAN_MODULE;
$user_line
worker_processes $CORES;
worker_rlimit_nofile 20000;
error_log $prefix/logs/error.log warn;
pid $prefix/nginx.pid;

events {
    worker_connections 20000;
}

http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;

    nchan_shared_memory_size 256M;
    nchan_message_buffer_length 10;
    nchan_message_timeout 1h;
    $redis_lines

    server {
        listen 127.0.0.1:$port;
        location ~ ^/pub/(.+)$ {
            nchan_publisher;
            nchan_channel_id \$1;
        }
        location ~ ^/sub/(.+)$ {
            nchan_subscriber;
            nchan_channel_id \$1;
        }
        location ~ ^/isub/(.+)$ {
            nchan_subscriber interval-poll;
            nchan_channel_id \$1;
        }
    }
}
EOF
}

nginx_cmd() { # the nginx command line, minus the namespace wrapper
	echo "$NGINX_BIN -e $NCHAN_PREFIX/logs/error.log -p $NCHAN_PREFIX -c nchan.conf -g 'daemon off;'"
}

# nginx_exec ARGS...: exec nginx with ARGS, in the private mount namespace when there is one.
nginx_exec() {
	if ((USE_NS)); then
		exec unshare --mount --propagation private sh -c 'mount --bind "$1" /var/lib && shift && exec "$@"' \
			sh "$WORK/varlib" "$NGINX_BIN" "$@"
	fi
	exec "$NGINX_BIN" "$@"
}

# start_nchan_node NODE: starts one nginx (see write_nchan_conf) and sets
# NODE_PID (its master) and NODE_PIDS (master and workers).
start_nchan_node() {
	local node=$1 i workers prefix=$WORK/nchan-prefix port=$NCHAN_PORT
	if ((node == 2)); then prefix=$WORK/nchan-prefix2 port=$((NCHAN_PORT + 10)); fi
	local pidfile=$prefix/nginx.pid
	! port_open "$port" || die "port $port is already in use"
	rm -f "$pidfile"
	# The subshell, unshare and sh all exec: $! is the nginx master.
	(nginx_exec -e "$prefix/logs/error.log" -p "$prefix" -c nchan.conf -g 'daemon off;') \
		>>"$prefix/logs/stdout.log" 2>&1 &
	NODE_PID=$!
	if ! wait_port "$port" "$NODE_PID"; then
		tail -5 "$prefix/logs/error.log" >&2 || true
		die "nginx did not start"
	fi
	for ((i = 0; i < 100; i++)); do
		workers=$(pgrep -P "$NODE_PID" | tr '\n' ' ' || true)
		(($(wc -w <<<"$workers") >= CORES)) && break
		sleep 0.1
	done
	[[ $(cat "$pidfile" 2>/dev/null) == "$NODE_PID" ]] || die "nginx pid file does not name the started master"
	NODE_PIDS="$NODE_PID $workers"
}

start_nchan() {
	start_nchan_node 1
	SERVER_PID=$NODE_PID SERVER_PIDS=$NODE_PIDS
	if ((NODES == 2)); then
		start_nchan_node 2
		MORE_PIDS+=" $NODE_PID" SERVER_PIDS+=" $NODE_PIDS"
	fi
}

# proc_cpu_ticks PID: user + system clock ticks the process has used.
proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start_redis: a fresh redis-server for one run (--store redis*), nothing
# saved; its pid counts with the server's.
start_redis() {
	[[ $STORE != memory ]] || return 0
	! port_open "$REDIS_PORT" || die "port $REDIS_PORT is already in use"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$WORK" --logfile "$WORK/redis.log" &
	REDIS_PID=$!
	wait_port "$REDIS_PORT" "$REDIS_PID" || die "redis-server did not start (see $WORK/redis.log)"
}

# ---------------------------------------------------------------- Herald
HERALD_SOURCE=""
# build_herald: the working tree; if that does not build (work in progress),
# the last commit, exported with git archive (the repository is not touched).
build_herald() {
	local rev
	rev=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $HERALD_BIN ]]; then
		[[ -x $HERALD_BIN ]] || die "--herald-bin $HERALD_BIN is not executable"
		cp "$HERALD_BIN" "$WORK/herald"
		HERALD_SOURCE="the binary $HERALD_BIN"
		return 0
	fi
	((BUILD_HEAD)) || log "go build -o $WORK/herald ./cmd/herald"
	if ((!BUILD_HEAD)) && (cd "$REPO" && go build -o "$WORK/herald" ./cmd/herald); then
		HERALD_SOURCE="the working tree at commit $rev"
		[[ -z $(cd "$REPO" && git status --porcelain --untracked-files=no 2>/dev/null) ]] ||
			HERALD_SOURCE+=" with uncommitted changes"
		return 0
	fi
	if ((BUILD_HEAD)); then log "go build of commit $rev (git archive HEAD)"; else log "the working tree does not build; building commit $rev (git archive HEAD) instead"; fi
	rm -rf "$WORK/herald-src"
	mkdir -p "$WORK/herald-src"
	(cd "$REPO" && git archive HEAD) | tar -x -C "$WORK/herald-src"
	(cd "$WORK/herald-src" && go build -o "$WORK/herald" ./cmd/herald)
	HERALD_SOURCE="commit $rev (git archive HEAD)"
	((BUILD_HEAD)) || HERALD_SOURCE+=" because the working tree did not build"
}

# write_herald_config [NODE]: the built-in layout (/pub, /sub, /pubsub) plus
# a batch publisher at /batch (docs/batch.md), on HERALD_PORT (node 2: + 10),
# in WORK/herald.yaml (node 2: herald2.yaml); with a Redis store, every
# location keeps its channels there.
write_herald_config() {
	local node=${1:-1} port=$HERALD_PORT file=$WORK/herald.yaml
	if ((node == 2)); then port=$((HERALD_PORT + 10)) file=$WORK/herald2.yaml; fi
	{
		if [[ $STORE != memory ]]; then
			echo "use_redis: on"
			echo "redis_url: redis://127.0.0.1:$REDIS_PORT"
			[[ $STORE == redis-nostore* ]] && echo "redis_storage_mode: nostore"
			[[ $STORE == redis-nostore-fast ]] && echo "redis_nostore_fastpublish: on"
		fi
		"$WORK/herald" config defaults | sed -e "s|listen: 127.0.0.1:8080|listen: 127.0.0.1:$port|"
		cat <<'YAML'
      - location: = /batch
        publisher: true
        publish_batch: on
      - location: ~ ^/isub/(.+)$
        subscriber: intervalpoll
        channel_id: $1
YAML
	} >"$file"
	grep -q "listen: 127.0.0.1:$port" "$file" || die "could not set the listen address in $file"
}

start_herald() {
	! port_open "$HERALD_PORT" || die "port $HERALD_PORT is already in use"
	write_herald_config 1
	GOMAXPROCS=$CORES "$WORK/herald" serve -c "$WORK/herald.yaml" >>"$WORK/herald.log" 2>&1 &
	SERVER_PID=$! SERVER_PIDS=$!
	wait_port "$HERALD_PORT" "$SERVER_PID" || { tail -5 "$WORK/herald.log" >&2; die "herald did not start"; }
	if ((NODES == 2)); then
		! port_open $((HERALD_PORT + 10)) || die "port $((HERALD_PORT + 10)) is already in use"
		write_herald_config 2
		GOMAXPROCS=$CORES "$WORK/herald" serve -c "$WORK/herald2.yaml" >>"$WORK/herald.log" 2>&1 &
		local p=$!
		MORE_PIDS+=" $p" SERVER_PIDS+=" $p"
		wait_port $((HERALD_PORT + 10)) "$p" || { tail -5 "$WORK/herald.log" >&2; die "herald node 2 did not start"; }
	fi
}

# ---------------------------------------------------------------- scenarios
# scenario_args SCENARIO [SERVER PORT]: the herald bench arguments. Nchan has
# no batch publish: its publish-batch run is the plain publish run.
scenario_args() {
	case $1 in
	fanout-es) echo "fanout --transport eventsource -n $N --messages $MESSAGES${RATE:+ --rate $RATE}" ;;
	fanout-ws) echo "fanout --transport websocket -n $N --messages $MESSAGES${RATE:+ --rate $RATE}" ;;
	fanout-lp) echo "fanout --transport longpoll -n $LP_N --messages $LP_MESSAGES${RATE:+ --rate $RATE}" ;;
	fanout-ip) echo "fanout --transport intervalpoll -n $LP_N --messages $LP_MESSAGES --poll-interval $POLL_INTERVAL --rate ${RATE:-2}" ;;
	channels-es) echo "channels --transport eventsource --channels $CH_N --messages $CH_MESSAGES --publishers $PUBLISHERS" ;;
	publish) echo "publish --publishers $PUBLISHERS --channels $PUB_CHANNELS --messages $PUB_MESSAGES --duration $PUB_DURATION" ;;
	publish-batch)
		if [[ ${2:-herald} == herald ]]; then
			echo "publish --publishers $PUBLISHERS --channels $PUB_CHANNELS --messages $((PUB_MESSAGES * 10)) --duration $PUB_DURATION --batch $BATCH --batch-url http://127.0.0.1:${3:-PORT}/batch"
		else
			echo "publish --publishers $PUBLISHERS --channels $PUB_CHANNELS --messages $PUB_MESSAGES --duration $PUB_DURATION"
		fi
		;;
	idle-es) echo "idle --transport eventsource -n $N --settle $SETTLE" ;;
	idle-ws) echo "idle --transport websocket -n $N --settle $SETTLE" ;;
	maxconn) echo "idle --transport eventsource -n $MAX_N --settle $SETTLE --timeout 30s" ;;
	storm-es) echo "storm --transport eventsource -n $STORM_N --timeout 30s" ;;
	storm-ws) echo "storm --transport websocket -n $STORM_N --timeout 30s" ;;
	esac
}

# sub_path SCENARIO: the subscriber location's first path segment.
sub_path() { [[ $1 == fanout-ip ]] && echo isub || echo sub; }

server_port() { [[ $1 == herald ]] && echo "$HERALD_PORT" || echo "$NCHAN_PORT"; }

# run_one SCENARIO SERVER RUN: fresh server, one herald bench run, server stopped.
run_one() {
	local scen=$1 server=$2 run=$3 port base rc=0 p
	port=$(server_port "$server")
	local subport=$port
	((NODES == 2)) && subport=$((port + 10))
	base=$RESULTS/$scen.$server.$run
	start_redis
	if [[ $server == herald ]]; then start_herald; else start_nchan; fi
	local rpid=${REDIS_PID:-} rcpu0=""
	if [[ -n $rpid ]]; then MORE_PIDS+=" $rpid" SERVER_PIDS+=" $rpid"; REDIS_PID=""; fi
	local -a cmd=("$WORK/herald" bench $(scenario_args "$scen" "$server" "$port")
		--pub "http://127.0.0.1:$port/pub/{ch}" --sub "http://127.0.0.1:$subport/$(sub_path "$scen")/{ch}")
	for p in $SERVER_PIDS; do cmd+=(--server-pid "$p"); done
	cmd+=(--json --quiet)
	sleep 0.5 # let the fresh server finish starting before the "before" reading

	local slab0 stat0 stat1 t0 t1 load0
	slab0=$(meminfo_kb Slab)
	stat0=$(cpu_busy)
	load0=$(cut -d' ' -f1 /proc/loadavg)
	if [[ $scen == idle-* || $scen == maxconn ]]; then
		# Peak kernel slab while the subscribers are connected (both ends of
		# every connection are on this host). Bounded: 600 s.
		(
			max=0
			for ((i = 0; i < 2400; i++)); do
				s=$(meminfo_kb Slab)
				((s > max)) && max=$s
				echo "$max" >"$base.slab"
				sleep 0.25
			done
		) &
		SAMPLER_PID=$!
	fi
	[[ -n $rpid ]] && rcpu0=$(proc_cpu_ticks "$rpid")
	t0=$(date +%s.%N)
	timeout -k 10 "$BENCH_TIMEOUT" "${cmd[@]}" >"$base.json" 2>"$base.err" &
	BENCH_PID=$!
	wait "$BENCH_PID" || rc=$?
	BENCH_PID=""
	t1=$(date +%s.%N)
	stat1=$(cpu_busy)
	local redis_cpu=""
	[[ -n $rpid ]] && redis_cpu=$(awk -v a="$rcpu0" -v b="$(proc_cpu_ticks "$rpid")" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.3f", (b-a)/hz}')
	if [[ -n $SAMPLER_PID ]]; then stop_pid "$SAMPLER_PID" TERM; SAMPLER_PID=""; fi
	stop_server

	read -r b0 a0 <<<"$stat0"
	read -r b1 a1 <<<"$stat1"
	{
		echo "rc=$rc"
		echo "wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"
		echo "busy_cores=$(awk -v b=$((b1 - b0)) -v t=$((a1 - a0)) -v n="$(nproc)" 'BEGIN{ if (t>0) printf "%.3f", b/t*n; else print 0 }')"
		echo "load1=$load0"
		echo "redis_cpu_s=$redis_cpu"
		echo "slab_before_kb=$slab0"
		echo "slab_peak_kb=$(cat "$base.slab" 2>/dev/null || echo 0)"
		echo "cmd=${cmd[*]}"
	} >"$base.meta"
	"$WORK/report" line "$base.json" "$rc" | sed "s/^/  [$scen $server run $run] /" >&2
}

# ---------------------------------------------------------------- report generator
# A small Go program (standard library only) turns the JSON results into
# markdown; Go is needed for Herald anyway.
write_report_tool() {
	mkdir -p "$WORK/report-src"
	cat >"$WORK/report-src/main.go" <<'GOEOF'
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

type pct struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

type result struct {
	Scenario    string  `json:"scenario"`
	Transport   string  `json:"transport"`
	Subscribers int     `json:"subscribers"`
	Channels    int     `json:"channels"`
	Publishers  int     `json:"publishers"`
	WallSeconds float64 `json:"wall_seconds"`
	Connect     struct {
		Established     int64   `json:"established"`
		Failed          int64   `json:"failed"`
		PerSecond       float64 `json:"per_second"`
		ServerConfirmed int     `json:"server_confirmed"`
	} `json:"connect"`
	Publish struct {
		Sent      int64            `json:"sent"`
		OK        int64            `json:"ok"`
		PerSecond float64          `json:"per_second"`
		Status    map[string]int64 `json:"status"`
		Latency   pct              `json:"latency"`
	} `json:"publish"`
	Delivery *struct {
		Deliveries int64   `json:"deliveries"`
		Expected   uint64  `json:"expected"`
		PerSecond  float64 `json:"per_second"`
		Latency    pct     `json:"latency"`
		Lost       uint64  `json:"lost"`
		Duplicated uint64  `json:"duplicated"`
		OutOfOrder uint64  `json:"out_of_order"`
	} `json:"delivery"`
	Broadcast *struct {
		Subscribers  int     `json:"subscribers"`
		Reached      int     `json:"reached"`
		TimeToLastMs float64 `json:"time_to_last_ms"`
	} `json:"broadcast"`
	Storm *struct {
		Dropped        int     `json:"dropped"`
		Reconnected    int64   `json:"reconnected"`
		Failed         int64   `json:"failed"`
		PerSecond      float64 `json:"per_second"`
		Handshake      pct     `json:"handshake"`
		PublishedAfter int64   `json:"published_after"`
		SpanFirstMs    float64 `json:"span_first_ms"`
		SpanLastMs     float64 `json:"span_last_ms"`
		Received       int64   `json:"received"`
		Lost           int64   `json:"lost"`
		Duplicated     int64   `json:"duplicated"`
		Replayed       int64   `json:"replayed"`
		OutOfOrder     int64   `json:"out_of_order"`
	} `json:"storm"`
	Memory *struct {
		Subscribers        int     `json:"subscribers"`
		PerSubscriberVmRSS float64 `json:"per_subscriber_vmrss_bytes"`
		Before             struct {
			VmRSS int64 `json:"vmrss_bytes"`
		} `json:"before"`
	} `json:"memory"`
	CPU struct {
		Cores       int      `json:"cores"`
		ToolUser    float64  `json:"tool_user_seconds"`
		ToolSys     float64  `json:"tool_sys_seconds"`
		ToolCores   float64  `json:"tool_cores"`
		ServerUser  *float64 `json:"server_user_seconds"`
		ServerSys   *float64 `json:"server_sys_seconds"`
		ServerCores *float64 `json:"server_cores"`
	} `json:"cpu"`
	Passed   bool     `json:"passed"`
	Failures []string `json:"failures"`
	Warnings []string `json:"warnings"`
}

type run struct {
	res  *result
	meta map[string]string
	err  string
}

func load(path string) run {
	var r run
	r.meta = map[string]string{}
	if f, err := os.Open(strings.TrimSuffix(path, ".json") + ".meta"); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				r.meta[k] = v
			}
		}
		f.Close()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		r.err = "no result"
		return r
	}
	var res result
	if err := json.Unmarshal(b, &res); err != nil || res.Scenario == "" {
		r.err = "no result (rc " + r.meta["rc"] + ")"
		return r
	}
	r.res = &res
	return r
}

func (r run) metaF(k string) float64 {
	v, _ := strconv.ParseFloat(r.meta[k], 64)
	return v
}

// ---- formatting

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fInt(v float64) string { return group(strconv.FormatInt(int64(math.Round(v)), 10)) }
func fMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
func fCores(v float64) string { return fmt.Sprintf("%.2f", v) }
func fMicro(v float64) string { return fmt.Sprintf("%.1f", v) }

// ---- metrics

type metric struct {
	name   string
	better int // +1 higher is better, -1 lower is better, 0 not compared
	get    func(r *result, m run) (float64, bool)
	format func(float64) string
	text   func(r *result, m run) string // for text-only rows
}

func delivery(f func(r *result) float64) func(*result, run) (float64, bool) {
	return func(r *result, _ run) (float64, bool) {
		if r.Delivery == nil || r.Delivery.Latency.Count == 0 {
			return 0, false
		}
		return f(r), true
	}
}

var (
	mDeliveries = metric{name: "deliveries/s ↑", better: +1, format: fInt,
		get: delivery(func(r *result) float64 { return r.Delivery.PerSecond })}
	mDelP50 = metric{name: "delivery latency p50 (ms) ↓", better: -1, format: fMs,
		get: delivery(func(r *result) float64 { return r.Delivery.Latency.P50 })}
	mDelP99 = metric{name: "delivery latency p99 (ms) ↓", better: -1, format: fMs,
		get: delivery(func(r *result) float64 { return r.Delivery.Latency.P99 })}
	mDelMax = metric{name: "delivery latency max (ms) ↓", better: -1, format: fMs,
		get: delivery(func(r *result) float64 { return r.Delivery.Latency.Max })}
	mIntegrity = metric{name: "lost / duplicated / out of order", text: func(r *result, _ run) string {
		if r.Delivery == nil {
			return "–"
		}
		return fmt.Sprintf("%d/%d/%d", r.Delivery.Lost, r.Delivery.Duplicated, r.Delivery.OutOfOrder)
	}}
	mPublishes = metric{name: "publishes/s ↑", better: +1, format: fInt,
		get: func(r *result, _ run) (float64, bool) { return r.Publish.PerSecond, r.Publish.OK > 0 }}
	mPubP50 = metric{name: "publish latency p50 (ms) ↓", better: -1, format: fMs,
		get: func(r *result, _ run) (float64, bool) { return r.Publish.Latency.P50, r.Publish.Latency.Count > 0 }}
	mPubP99 = metric{name: "publish latency p99 (ms) ↓", better: -1, format: fMs,
		get: func(r *result, _ run) (float64, bool) { return r.Publish.Latency.P99, r.Publish.Latency.Count > 0 }}
	mPubStatus = metric{name: "publish answers", text: func(r *result, _ run) string {
		keys := make([]string, 0, len(r.Publish.Status))
		for k := range r.Publish.Status {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s×%d", k, r.Publish.Status[k]))
		}
		if len(parts) == 0 {
			return "–"
		}
		return strings.Join(parts, " ")
	}}
	mMem = metric{name: "server memory per idle subscriber (B) ↓", better: -1, format: fInt,
		get: func(r *result, _ run) (float64, bool) {
			if r.Memory == nil || r.Memory.Subscribers == 0 {
				return 0, false
			}
			return r.Memory.PerSubscriberVmRSS, true
		}}
	mConnect = metric{name: "connect rate (/s) ↑", better: +1, format: fInt,
		get: func(r *result, _ run) (float64, bool) { return r.Connect.PerSecond, r.Connect.PerSecond > 0 }}
	mConnected = metric{name: "subscribers connected", text: func(r *result, _ run) string {
		s := fmt.Sprintf("%s of %s", fInt(float64(r.Connect.Established)), fInt(float64(r.Subscribers)))
		if r.Connect.Failed > 0 {
			s += fmt.Sprintf(" (%d failed)", r.Connect.Failed)
		}
		return s
	}}
	mReached = metric{name: "broadcast reached", text: func(r *result, _ run) string {
		if r.Broadcast == nil {
			return "–"
		}
		return fmt.Sprintf("%s of %s", fInt(float64(r.Broadcast.Reached)), fInt(float64(r.Broadcast.Subscribers)))
	}}
	mBroadcast = metric{name: "broadcast: last subscriber reached after (ms) ↓", better: -1, format: fMs,
		get: func(r *result, _ run) (float64, bool) {
			if r.Broadcast == nil || r.Broadcast.Reached == 0 {
				return 0, false
			}
			return r.Broadcast.TimeToLastMs, true
		}}
	mCPUPerPublish = metric{name: "server CPU per publish (µs) ↓", better: -1, format: fMicro,
		get: func(r *result, _ run) (float64, bool) {
			if r.CPU.ServerUser == nil || r.CPU.ServerSys == nil || r.Publish.OK == 0 {
				return 0, false
			}
			return (*r.CPU.ServerUser + *r.CPU.ServerSys) / float64(r.Publish.OK) * 1e6, true
		}}
	mRedisCPUPerPublish = metric{name: "— of which Redis (µs) ↓", better: -1, format: fMicro,
		get: func(r *result, m run) (float64, bool) {
			if m.meta["redis_cpu_s"] == "" || r.Publish.OK == 0 {
				return 0, false
			}
			return m.metaF("redis_cpu_s") / float64(r.Publish.OK) * 1e6, true
		}}
	mCPUPerDelivery = metric{name: "server CPU per delivery (µs) ↓", better: -1, format: fMicro,
		get: func(r *result, _ run) (float64, bool) {
			if r.CPU.ServerUser == nil || r.CPU.ServerSys == nil || r.Delivery == nil || r.Delivery.Deliveries == 0 {
				return 0, false
			}
			return (*r.CPU.ServerUser + *r.CPU.ServerSys) / float64(r.Delivery.Deliveries) * 1e6, true
		}}
	mServerCPUTime = metric{name: "server CPU time, user + sys (s) ↓", better: -1, format: fCores,
		get: func(r *result, _ run) (float64, bool) {
			if r.CPU.ServerUser == nil || r.CPU.ServerSys == nil {
				return 0, false
			}
			return *r.CPU.ServerUser + *r.CPU.ServerSys, true
		}}
	mServerCPU = metric{name: "server CPU (cores, over the run)", format: fCores,
		get: func(r *result, _ run) (float64, bool) {
			if r.CPU.ServerCores == nil {
				return 0, false
			}
			return *r.CPU.ServerCores, true
		}}
	mToolCPUTime = metric{name: "loader CPU time, user + sys (s)", format: fCores,
		get: func(r *result, _ run) (float64, bool) { return r.CPU.ToolUser + r.CPU.ToolSys, true }}
	mToolCPU = metric{name: "loader CPU (cores, over the run)", format: fCores,
		get: func(r *result, _ run) (float64, bool) { return r.CPU.ToolCores, true }}
	mWall = metric{name: "run length (s)", format: func(v float64) string { return fmt.Sprintf("%.1f", v) },
		get: func(r *result, _ run) (float64, bool) { return r.WallSeconds, true }}
	mOtherCPU = metric{name: "other processes' CPU (cores)", format: fCores,
		get: func(r *result, m run) (float64, bool) {
			if r.CPU.ServerCores == nil || m.meta["busy_cores"] == "" {
				return 0, false
			}
			// busy_cores spans the script's window around the run (slightly
			// longer than the tool's), so this is approximate.
			busy := m.metaF("busy_cores") * m.metaF("wall") / max(r.WallSeconds, 1e-9)
			return math.Max(0, busy-*r.CPU.ServerCores-r.CPU.ToolCores), true
		}}
	mRegistered = metric{name: "subscribers the server's channel info counted", text: func(r *result, _ run) string {
		if r.Connect.ServerConfirmed < 0 {
			return "–"
		}
		return fInt(float64(r.Connect.ServerConfirmed))
	}}
	mStormRate = metric{name: "reconnect rate after the drop (/s) ↑", better: +1, format: fInt,
		get: storm(func(r *result) float64 { return r.Storm.PerSecond })}
	mStormHsP50 = metric{name: "reconnect handshake p50 (ms) ↓", better: -1, format: fMs,
		get: storm(func(r *result) float64 { return r.Storm.Handshake.P50 })}
	mStormHsP99 = metric{name: "reconnect handshake p99 (ms) ↓", better: -1, format: fMs,
		get: storm(func(r *result) float64 { return r.Storm.Handshake.P99 })}
	mSpanFirst = metric{name: "storm span: mid-storm message's first receipt (ms) ↓", better: -1, format: fMs,
		get: func(r *result, _ run) (float64, bool) {
			if r.Storm == nil || r.Storm.Received == 0 {
				return 0, false
			}
			return r.Storm.SpanFirstMs, true
		}}
	mSpanLast = metric{name: "storm span: mid-storm message's last receipt (ms) ↓", better: -1, format: fMs,
		get: func(r *result, _ run) (float64, bool) {
			if r.Storm == nil || r.Storm.Received == 0 {
				return 0, false
			}
			return r.Storm.SpanLastMs, true
		}}
	mReconnected = metric{name: "reconnected", text: func(r *result, _ run) string {
		if r.Storm == nil {
			return "–"
		}
		s := fmt.Sprintf("%s of %s", fInt(float64(r.Storm.Reconnected)), fInt(float64(r.Storm.Dropped)))
		if r.Storm.Failed > 0 {
			s += fmt.Sprintf(" (%d failed)", r.Storm.Failed)
		}
		if r.Storm.PublishedAfter >= 0 {
			s += fmt.Sprintf("; published after %s", fInt(float64(r.Storm.PublishedAfter)))
		}
		return s
	}}
	mStormIntegrity = metric{name: "mid-storm message: received / lost / duplicated; replayed / out of order", text: func(r *result, _ run) string {
		if r.Storm == nil {
			return "–"
		}
		st := r.Storm
		return fmt.Sprintf("%d/%d/%d; %d/%d", st.Received, st.Lost, st.Duplicated, st.Replayed, st.OutOfOrder)
	}}
	mResult = metric{name: "result", text: func(r *result, _ run) string {
		if r.Passed {
			return "PASS"
		}
		return "FAIL: " + strings.Join(r.Failures, "; ")
	}}
)

func storm(f func(r *result) float64) func(*result, run) (float64, bool) {
	return func(r *result, _ run) (float64, bool) {
		if r.Storm == nil || r.Storm.Reconnected == 0 {
			return 0, false
		}
		return f(r), true
	}
}

type scenario struct {
	id, title string
	metrics   []metric
	headline  metric
}

func scenarios(env map[string]string) []scenario {
	n, msgs := group(env["N"]), env["MESSAGES"]
	cpu := []metric{mServerCPUTime, mServerCPU, mToolCPUTime, mToolCPU, mOtherCPU, mWall}
	fan := append([]metric{mDeliveries, mDelP50, mDelP99, mDelMax, mIntegrity, mConnect, mRegistered}, cpu...)
	fan = append(fan, mResult)
	idle := append([]metric{mMem, mConnect, mConnected, mReached, mBroadcast}, cpu...)
	idle = append(idle, mResult)
	pub := []metric{mPublishes, mPubP50, mPubP99, mPubStatus, mCPUPerPublish}
	if env["STORE"] != "" && env["STORE"] != "memory" {
		pub = append(pub, mRedisCPUPerPublish)
	}
	pub = append(pub, cpu...)
	pub = append(pub, mResult)
	lp := append([]metric{mDeliveries, mDelP50, mDelP99, mDelMax, mIntegrity, mCPUPerDelivery, mConnect, mRegistered}, cpu...)
	lp = append(lp, mResult)
	chs := append([]metric{mPublishes, mDeliveries, mDelP50, mDelP99, mDelMax, mIntegrity, mConnect, mRegistered}, cpu...)
	chs = append(chs, mResult)
	storms := append([]metric{mStormRate, mStormHsP50, mStormHsP99, mSpanFirst, mSpanLast, mReconnected, mStormIntegrity, mConnect}, cpu...)
	storms = append(storms, mResult)
	sn := group(env["STORM_N"])
	return []scenario{
		{"fanout-es", fmt.Sprintf("Fan-out: %s EventSource subscribers on one channel × %s messages", n, msgs), fan, mDeliveries},
		{"fanout-ws", fmt.Sprintf("Fan-out: %s WebSocket subscribers on one channel × %s messages", n, msgs), fan, mDeliveries},
		{"fanout-ip", fmt.Sprintf("Interval-poll fan-out: %s interval-poll subscribers on one channel × %s messages at %s a second, each asking with its Etag, again at once after a message and %s after a 304", group(env["LP_N"]), env["LP_MESSAGES"], orDefault(env["RATE"], "2"), env["POLL_INTERVAL"]), lp, mCPUPerDelivery},
		{"fanout-lp", fmt.Sprintf("Long-poll fan-out: %s long-poll subscribers on one channel × %s messages, each re-polling with its Etag", group(env["LP_N"]), env["LP_MESSAGES"]), lp, mDeliveries},
		{"channels-es", fmt.Sprintf("Many channels: %s channels with one EventSource subscriber each, %s publishers, %s messages per channel", group(env["CH_N"]), env["PUBLISHERS"], env["CH_MESSAGES"]), chs, mPublishes},
		{"publish", fmt.Sprintf("Publish: %s publishers over %s channels, no subscribers, %s messages or %s", env["PUBLISHERS"], env["PUB_CHANNELS"], group(env["PUB_MESSAGES"]), env["PUB_DURATION"]), pub, mPublishes},
		{"publish-batch", fmt.Sprintf("Batch publish: %s publishers over %s channels, Herald %s messages per request (a publish_batch location), Nchan one per request; %s", env["PUBLISHERS"], env["PUB_CHANNELS"], env["BATCH"], env["PUB_DURATION"]), pub, mPublishes},
		{"idle-es", fmt.Sprintf("Idle: %s EventSource subscribers, then one broadcast", n), idle, mMem},
		{"idle-ws", fmt.Sprintf("Idle: %s WebSocket subscribers, then one broadcast", n), idle, mMem},
		{"maxconn", fmt.Sprintf("Max connections: %s idle EventSource subscribers on one server, then one broadcast", group(env["MAX_N"])), idle, mMem},
		{"storm-es", fmt.Sprintf("Reconnection storm: %s EventSource subscribers dropped at once, all reconnecting with Last-Event-ID; one message published when half are back", sn), storms, mStormRate},
		{"storm-ws", fmt.Sprintf("Reconnection storm: %s WebSocket subscribers dropped at once, all reconnecting with Last-Event-ID; one message published when half are back", sn), storms, mStormRate},
	}
}

// ---- tables

var labels = map[string]string{"herald": "Herald", "nchan": "Nchan"}

type cell struct {
	vals []float64
	strs []string
}

func collect(m metric, runs []run) cell {
	var c cell
	for _, r := range runs {
		switch {
		case r.res == nil:
			c.strs = append(c.strs, r.err)
		case m.text != nil:
			c.strs = append(c.strs, m.text(r.res, r))
		default:
			if v, ok := m.get(r.res, r); ok {
				c.vals = append(c.vals, v)
				c.strs = append(c.strs, m.format(v))
			} else {
				c.strs = append(c.strs, "–")
			}
		}
	}
	return c
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func spread(v []float64) string {
	if len(v) < 2 {
		return ""
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	m := mean(v)
	if m == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.0f%%", (hi-lo)/math.Abs(m)*100)
}

func joinCell(c cell) string {
	if len(c.strs) == 0 {
		return "–"
	}
	// Identical text values (e.g. PASS / PASS) collapse to one.
	same := true
	for _, s := range c.strs {
		same = same && s == c.strs[0]
	}
	if same && len(c.vals) == 0 && len(c.strs) > 1 {
		return c.strs[0] + " (all runs)"
	}
	return strings.Join(c.strs, " / ")
}

func ratio(m metric, h, n cell) string {
	if m.better == 0 || len(h.vals) == 0 || len(n.vals) == 0 || len(h.vals) != len(h.strs) || len(n.vals) != len(n.strs) {
		return ""
	}
	mh, mn := mean(h.vals), mean(n.vals)
	if mn == 0 {
		return ""
	}
	r := mh / mn
	win := "Herald"
	if (m.better > 0) != (mh > mn) {
		win = "Nchan"
	}
	if mh == mn {
		win = "even"
	}
	return fmt.Sprintf("%.2f× (%s)", r, win)
}

func loadRuns(dir, scen, server string, runs int) []run {
	out := make([]run, 0, runs)
	for i := 1; i <= runs; i++ {
		out = append(out, load(filepath.Join(dir, fmt.Sprintf("%s.%s.%d.json", scen, server, i))))
	}
	return out
}

func readEnv(path string) map[string]string {
	env := map[string]string{}
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

func tables(dir string, env map[string]string) {
	runs, _ := strconv.Atoi(env["RUNS"])
	want := map[string]bool{}
	for _, s := range strings.Fields(env["SCENARIOS"]) {
		want[s] = true
	}
	servers := strings.Fields(env["SERVERS"])
	all := map[string]map[string][]run{}
	for _, sc := range scenarios(env) {
		if !want[sc.id] {
			continue
		}
		all[sc.id] = map[string][]run{}
		for _, s := range servers {
			all[sc.id][s] = loadRuns(dir, sc.id, s, runs)
		}
	}

	// Summary: the headline figure of each scenario and the targets Herald sets itself against Nchan.
	fmt.Println("### Summary (means over the runs; Herald's targets against Nchan)")
	fmt.Println()
	fmt.Println("| scenario | figure | Herald | Nchan | Herald ÷ Nchan | target | met |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, sc := range scenarios(env) {
		if !want[sc.id] {
			continue
		}
		h, n := collect(sc.headline, all[sc.id]["herald"]), collect(sc.headline, all[sc.id]["nchan"])
		hm, nm := "–", "–"
		if len(h.vals) > 0 {
			hm = sc.headline.format(mean(h.vals))
		}
		if len(n.vals) > 0 {
			nm = sc.headline.format(mean(n.vals))
		}
		target, met := targetFor(sc, all[sc.id])
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", sc.id, sc.headline.name, hm, nm, ratio(sc.headline, h, n), target, met)
	}
	fmt.Println()
	fmt.Println("↑ higher is better, ↓ lower is better; the ratio names the better server. Cells list every run (run 1 / run 2 / …); the spread is (max − min) ÷ mean over the runs.")
	fmt.Println()

	for _, sc := range scenarios(env) {
		if !want[sc.id] {
			continue
		}
		fmt.Printf("### %s\n\n", sc.title)
		fmt.Println("| | Herald | spread | Nchan | spread | Herald ÷ Nchan (means) |")
		fmt.Println("|---|---|---|---|---|---|")
		for _, m := range sc.metrics {
			h, n := collect(m, all[sc.id]["herald"]), collect(m, all[sc.id]["nchan"])
			fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", m.name, joinCell(h), spread(h.vals), joinCell(n), spread(n.vals), ratio(m, h, n))
		}
		fmt.Println()
		warnings := map[string]bool{}
		for _, s := range servers {
			for i, r := range all[sc.id][s] {
				if r.res == nil {
					continue
				}
				for _, w := range r.res.Warnings {
					k := fmt.Sprintf("%s run %d: %s", labels[s], i+1, w)
					warnings[k] = true
				}
			}
		}
		if len(warnings) > 0 {
			keys := make([]string, 0, len(warnings))
			for k := range warnings {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			fmt.Println("Warnings from herald bench:")
			fmt.Println()
			for _, k := range keys {
				fmt.Printf("- %s\n", k)
			}
			fmt.Println()
		}
	}
	estimate(env, all)
}

func targetFor(sc scenario, byServer map[string][]run) (string, string) {
	h, n := byServer["herald"], byServer["nchan"]
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "**no**"
	}
	vals := func(m metric, rs []run) []float64 { return collect(m, rs).vals }
	switch sc.id {
	case "fanout-es", "fanout-ws":
		hd, nd, hp, np := vals(mDeliveries, h), vals(mDeliveries, n), vals(mDelP99, h), vals(mDelP99, n)
		if len(hd) == 0 || len(nd) == 0 || len(hp) == 0 || len(np) == 0 {
			return "≥ 1.5× Nchan's deliveries/s, lower p99", "–"
		}
		return "≥ 1.5× Nchan's deliveries/s, lower p99", yes(mean(hd) >= 1.5*mean(nd) && mean(hp) < mean(np)) +
			fmt.Sprintf(" (p99 %s vs %s ms)", fMs(mean(hp)), fMs(mean(np)))
	case "fanout-ip":
		h50, n50, h99, n99 := vals(mDelP50, h), vals(mDelP50, n), vals(mDelP99, h), vals(mDelP99, n)
		hc, nc := vals(mCPUPerDelivery, h), vals(mCPUPerDelivery, n)
		const t = "less CPU per delivery (polls included), lower p50 and p99"
		if len(h50) == 0 || len(n50) == 0 || len(hc) == 0 || len(nc) == 0 {
			return t, "–"
		}
		return t, yes(mean(hc) < mean(nc) && mean(h50) < mean(n50) && mean(h99) < mean(n99)) +
			fmt.Sprintf(" (%s vs %s µs; p50 %s vs %s ms)", fMicro(mean(hc)), fMicro(mean(nc)), fMs(mean(h50)), fMs(mean(n50)))
	case "fanout-lp":
		hd, nd := vals(mDeliveries, h), vals(mDeliveries, n)
		h50, n50, h99, n99 := vals(mDelP50, h), vals(mDelP50, n), vals(mDelP99, h), vals(mDelP99, n)
		hc, nc := vals(mCPUPerDelivery, h), vals(mCPUPerDelivery, n)
		const t = "≥ 1.5× Nchan's deliveries/s, lower p50 and p99, less CPU per delivery"
		if len(hd) == 0 || len(nd) == 0 || len(h50) == 0 || len(n50) == 0 || len(hc) == 0 || len(nc) == 0 {
			return t, "–"
		}
		return t, yes(mean(hd) >= 1.5*mean(nd) && mean(h50) < mean(n50) && mean(h99) < mean(n99) && mean(hc) < mean(nc)) +
			fmt.Sprintf(" (%.2f×; p50 %s vs %s ms; %s vs %s µs)", mean(hd)/mean(nd), fMs(mean(h50)), fMs(mean(n50)), fMicro(mean(hc)), fMicro(mean(nc)))
	case "channels-es":
		hv, nv, hp, np := vals(mPublishes, h), vals(mPublishes, n), vals(mDelP99, h), vals(mDelP99, n)
		const t = "≥ Nchan's publishes/s, lower p99"
		if len(hv) == 0 || len(nv) == 0 || len(hp) == 0 || len(np) == 0 {
			return t, "–"
		}
		return t, yes(mean(hv) >= mean(nv) && mean(hp) < mean(np)) + fmt.Sprintf(" (%.2f×; p99 %s vs %s ms)", mean(hv)/mean(nv), fMs(mean(hp)), fMs(mean(np)))
	case "publish-batch":
		hv, nv, hc, nc := vals(mPublishes, h), vals(mPublishes, n), vals(mCPUPerPublish, h), vals(mCPUPerPublish, n)
		const t = "≥ 1.5× Nchan's publishes/s, server CPU per publish ≤ Nchan's"
		if len(hv) == 0 || len(nv) == 0 || len(hc) == 0 || len(nc) == 0 {
			return t, "–"
		}
		return t, yes(mean(hv) >= 1.5*mean(nv) && mean(hc) <= mean(nc)) + fmt.Sprintf(" (%.1f×; %s vs %s µs)", mean(hv)/mean(nv), fMicro(mean(hc)), fMicro(mean(nc)))
	case "publish":
		hv, nv := vals(mPublishes, h), vals(mPublishes, n)
		if len(hv) == 0 || len(nv) == 0 {
			return "≥ Nchan's publishes/s", "–"
		}
		return "≥ Nchan's publishes/s", yes(mean(hv) >= mean(nv))
	case "idle-es", "idle-ws":
		hv, nv := vals(mMem, h), vals(mMem, n)
		if len(hv) == 0 || len(nv) == 0 {
			return "≤ Nchan's bytes per subscriber", "–"
		}
		return "≤ Nchan's bytes per subscriber", yes(mean(hv) <= mean(nv))
	case "storm-es", "storm-ws":
		hr, nr, hs, ns := vals(mStormRate, h), vals(mStormRate, n), vals(mSpanLast, h), vals(mSpanLast, n)
		const t = "≥ 1.2× Nchan's reconnect rate, shorter storm span"
		if len(hr) == 0 || len(nr) == 0 || len(hs) == 0 || len(ns) == 0 {
			return t, "–"
		}
		clean := true
		for _, r := range h {
			clean = clean && r.res != nil && r.res.Passed
		}
		return t, yes(clean && mean(hr) >= 1.2*mean(nr) && mean(hs) < mean(ns)) +
			fmt.Sprintf(" (%.2f×; last receipt %s vs %s ms)", mean(hr)/mean(nr), fMs(mean(hs)), fMs(mean(ns)))
	case "maxconn":
		ok := len(h) > 0
		for _, r := range h {
			ok = ok && r.res != nil && r.res.Broadcast != nil && r.res.Broadcast.Reached == r.res.Subscribers &&
				r.res.Connect.Established >= int64(r.res.Subscribers)
		}
		return "all connected, every broadcast delivered (Herald)", yes(ok)
	}
	return "", ""
}

type sample struct {
	bytes, slab float64
	subs        int
	rssStart    int64
	bcastMs     float64
	reached     int
}

func estimate(env map[string]string, all map[string]map[string][]run) {
	var hs []sample
	var nchanBytes []float64
	for _, id := range []string{"idle-es", "idle-ws", "maxconn"} {
		for _, r := range all[id]["herald"] {
			if r.res == nil || r.res.Memory == nil || r.res.Memory.Subscribers == 0 {
				continue
			}
			s := sample{bytes: r.res.Memory.PerSubscriberVmRSS, subs: r.res.Memory.Subscribers, rssStart: r.res.Memory.Before.VmRSS}
			if d := r.metaF("slab_peak_kb") - r.metaF("slab_before_kb"); d > 0 {
				s.slab = d * 1024 / float64(s.subs) / 2 // both ends of each connection are on this host
			}
			if b := r.res.Broadcast; b != nil && b.Reached > 0 {
				s.bcastMs, s.reached = b.TimeToLastMs, b.Reached
			}
			hs = append(hs, s)
		}
		for _, r := range all[id]["nchan"] {
			if r.res != nil && r.res.Memory != nil && r.res.Memory.Subscribers > 0 {
				nchanBytes = append(nchanBytes, r.res.Memory.PerSubscriberVmRSS)
			}
		}
	}
	fmt.Println("### One node for 1,000,000 subscribers (estimate from Herald's measured figures)")
	fmt.Println()
	if len(hs) == 0 {
		fmt.Println("No Herald idle run measured memory.")
		fmt.Println()
		return
	}
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	var slabs []float64
	var rss int64
	var best sample
	top, size := maxSubs(hs), 0.0
	for _, s := range hs {
		lo, hi, sum = math.Min(lo, s.bytes), math.Max(hi, s.bytes), sum+s.bytes
		// Size from the runs with the most subscribers: fixed costs weigh
		// less there.
		if 2*s.subs >= top {
			size = math.Max(size, s.bytes)
		}
		if s.slab > 0 {
			slabs = append(slabs, s.slab)
		}
		rss = max(rss, s.rssStart)
		if s.subs > best.subs && s.reached > 0 {
			best = s
		}
	}
	const million = 1e6
	gib := func(b float64) string { return fmt.Sprintf("%.1f GiB", b/(1<<30)) }
	fmt.Printf("- Herald's resident memory per idle subscriber over %d idle run%s (EventSource, WebSocket, up to %s subscribers): %s–%s B, mean %s B",
		len(hs), map[bool]string{true: "s"}[len(hs) != 1], group(strconv.Itoa(maxSubs(hs))), fInt(lo), fInt(hi), fInt(sum/float64(len(hs))))
	if len(nchanBytes) > 0 {
		fmt.Printf(" (Nchan in the same runs: %s B mean)", fInt(mean(nchanBytes)))
	}
	fmt.Println(".")
	user := size * million
	fmt.Printf("- User space for 1,000,000 subscribers at %s B each (the highest figure of the runs with at least %s subscribers): %s, plus the process's %.0f MiB at rest.\n",
		fInt(size), group(strconv.Itoa((top+1)/2)), gib(user), float64(rss)/(1<<20))
	kernel := 0.0
	if len(slabs) > 0 {
		kernel = mean(slabs) * million
		fmt.Printf("- Kernel memory per connection (server side; half the growth of the kernel slab while both ends were open on this host, approximate since other processes share the machine): about %s B, %s for 1,000,000 idle sockets (socket buffers of idle connections are empty and not counted).\n",
			fInt(mean(slabs)), gib(kernel))
	}
	total := user + kernel + float64(rss)
	fmt.Printf("- Together about **%s**; with half again as headroom (garbage collection, message bursts, reconnect storms) a node with **%.0f GiB** of RAM.\n",
		gib(total), math.Ceil(total*1.5/(1<<30)))
	if best.reached > 0 {
		fmt.Printf("- A broadcast reached %s subscribers in %s ms here (%s per second on %s cores shared with the load tool); at that rate one message reaches 1,000,000 in about %.1f s, a floor on this machine.\n",
			group(strconv.Itoa(best.reached)), fMs(best.bcastMs), fInt(float64(best.reached)/(best.bcastMs/1000)), env["CORES"], best.bcastMs/1000*million/float64(best.reached))
	}
	fmt.Println("- Beyond memory: a file limit above 1,000,000 (`LimitNOFILE=1048576` or more; `fs.nr_open` allows 1,048,576 by default), and clients arriving from enough addresses (one client address reaches one server address:port over at most ~64,000 source ports).")
	fmt.Println()
}

func maxSubs(hs []sample) int {
	m := 0
	for _, s := range hs {
		m = max(m, s.subs)
	}
	return m
}

// line prints a one-line summary of one run for the progress log.
func line(path, rc string) {
	r := load(path)
	if r.res == nil {
		fmt.Printf("no result (herald bench exit %s)\n", rc)
		return
	}
	res := r.res
	var parts []string
	if st := res.Storm; st != nil {
		parts = append(parts, fmt.Sprintf("%d/%d reconnected at %s/s, handshake p50 %s p99 %s ms, mid-storm message first %s last %s ms",
			st.Reconnected, st.Dropped, fInt(st.PerSecond), fMs(st.Handshake.P50), fMs(st.Handshake.P99), fMs(st.SpanFirstMs), fMs(st.SpanLastMs)))
	}
	if d := res.Delivery; d != nil && res.Scenario != "idle" && res.Scenario != "storm" && d.Latency.Count > 0 {
		parts = append(parts, fmt.Sprintf("%s deliveries/s p50 %s p99 %s ms", fInt(d.PerSecond), fMs(d.Latency.P50), fMs(d.Latency.P99)))
	}
	if res.Scenario == "publish" {
		parts = append(parts, fmt.Sprintf("%s publishes/s p99 %s ms", fInt(res.Publish.PerSecond), fMs(res.Publish.Latency.P99)))
	}
	if m := res.Memory; m != nil {
		parts = append(parts, fmt.Sprintf("%s B/subscriber", fInt(m.PerSubscriberVmRSS)))
	}
	if b := res.Broadcast; b != nil {
		parts = append(parts, fmt.Sprintf("broadcast %d/%d in %s ms", b.Reached, b.Subscribers, fMs(b.TimeToLastMs)))
	}
	if res.Connect.PerSecond > 0 {
		parts = append(parts, fmt.Sprintf("connect %s/s", fInt(res.Connect.PerSecond)))
	}
	if res.CPU.ServerCores != nil {
		parts = append(parts, fmt.Sprintf("cpu server %.2f loader %.2f", *res.CPU.ServerCores, res.CPU.ToolCores))
	}
	verdict := "PASS"
	if !res.Passed {
		verdict = "FAIL: " + strings.Join(res.Failures, "; ")
	}
	fmt.Printf("%s; %s\n", strings.Join(parts, ", "), verdict)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: report line FILE.json RC | report tables DIR ENVFILE")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "line":
		line(os.Args[2], os.Args[3])
	case "tables":
		tables(os.Args[2], readEnv(os.Args[3]))
	}
}
GOEOF
	(cd "$WORK/report-src" && GO111MODULE=off GOFLAGS= go build -o "$WORK/report" main.go)
}

# ---------------------------------------------------------------- main
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [[ $SCENARIOS == *maxconn* ]] && ((MAX_N + 100 > NOFILE)); then
	log "--max-n $MAX_N is above the file limit ($NOFILE) less headroom; using $((NOFILE - 1000))"
	MAX_N=$((NOFILE - 1000))
fi
# A storm's subscribers hold one file each in the load tool and the server;
# while they reconnect, the server may still hold connections it has not yet
# seen dropped: leave room for them.
if [[ $SCENARIOS == *storm* ]] && ((STORM_N + 5000 > NOFILE)); then
	STORM_N=$((NOFILE > 10000 ? NOFILE - 5000 : NOFILE / 2))
	log "--storm-n is above the file limit ($NOFILE) less 5000 headroom; using $STORM_N"
fi

rm -rf "$RESULTS"
mkdir -p "$RESULTS"
: >"$WORK/herald.log"
write_report_tool
build_herald
if [[ $SERVERS == *nchan* ]]; then
	install_nchan
	prepare_varlib
	write_nchan_conf 1
	((NODES == 2)) && write_nchan_conf 2
	if ! (nginx_exec -e "$NCHAN_PREFIX/logs/error.log" -p "$NCHAN_PREFIX" -c nchan.conf -t) >"$WORK/nginx-t.log" 2>&1; then
		cat "$WORK/nginx-t.log" >&2
		die "nginx -t failed"
	fi
	log "Nchan: $NCHAN_MODE nginx $NGINX_PKG_VERSION + libnginx-mod-nchan $NCHAN_VERSION ($NGINX_BIN)"
fi

START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
TOTAL=0
for s in $SCENARIOS; do for v in $SERVERS; do TOTAL=$((TOTAL + RUNS)); done; done
i=0
# Runs interleave the servers (run 1 of a scenario on each, then run 2, ...)
# so both see the same background load.
for scen in $SCENARIOS; do
	for ((run = 1; run <= RUNS; run++)); do
		for server in $SERVERS; do
			i=$((i + 1))
			log "[$i/$TOTAL] $server $scen run $run: herald bench $(scenario_args "$scen" "$server" "$(server_port "$server")")"
			run_one "$scen" "$server" "$run"
		done
	done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- write the markdown
cat >"$WORK/env" <<EOF
N=$N
MESSAGES=$MESSAGES
RUNS=$RUNS
CORES=$CORES
MAX_N=$MAX_N
PUBLISHERS=$PUBLISHERS
PUB_CHANNELS=$PUB_CHANNELS
PUB_MESSAGES=$PUB_MESSAGES
PUB_DURATION=$PUB_DURATION
LP_N=$LP_N
LP_MESSAGES=$LP_MESSAGES
POLL_INTERVAL=$POLL_INTERVAL
RATE=$RATE
CH_N=$CH_N
CH_MESSAGES=$CH_MESSAGES
BATCH=$BATCH
STORM_N=$STORM_N
STORE=$STORE
NODES=$NODES
SCENARIOS=$SCENARIOS
SERVERS=$SERVERS
EOF

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem_gib=$(awk '/^MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)
os_name=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-Linux}")
herald_version=$("$WORK/herald" version 2>&1 | head -1)
nginx_version=""
[[ -n $NGINX_BIN ]] && nginx_version=$("$NGINX_BIN" -v 2>&1 | head -1)
invocation="bench/compare.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}"

{
	echo "<!-- BEGIN COMPARE -->"
	echo "## Herald and Nchan side by side"
	echo
	echo "Written by \`$invocation\` on $START_DATE. Every figure is measured by \`herald bench\` from"
	echo "the client side, on loopback, against a freshly started server process for every run; the"
	echo "servers' runs are interleaved so both see the same background load."
	echo
	echo "- Machine: $(nproc) cores ($cpu_model), $mem_gib GiB RAM, $os_name, Linux $(uname -r); open-file limit $NOFILE per process."
	echo "- Load average (1/5/15 min) at the start: $LOAD_START; at the end: $LOAD_END. The \"other processes' CPU\" rows show what else ran during each run."
	echo "- Herald: $herald_version, built from $HERALD_SOURCE; $(go version | sed 's/^go version //')."
	if [[ $SERVERS == *nchan* ]]; then
		echo "- Nchan: libnginx-mod-nchan $NCHAN_VERSION on $nginx_version (Debian package $NGINX_PKG_VERSION), $( [[ $NCHAN_MODE == extracted ]] && echo "extracted with dpkg -x into a private directory" || echo "installed with apt-get (service not started)")."
	fi
	echo "- Both servers: $CORES cores (nginx \`worker_processes $CORES\`, Herald \`GOMAXPROCS=$CORES\`), message buffer 10, message timeout 1 h, no access log. The load tool runs on the same cores: compare its CPU with the server's before reading a figure as the server's limit."
	if [[ $STORE != memory ]]; then
		echo "- Store: $STORE: one fresh \`redis-server\` ($(redis-server --version | awk '{print $3}')) per run on 127.0.0.1:$REDIS_PORT, shared by the server's $NODES node(s) (Nchan \`nchan_use_redis on\`$( [[ $STORE == redis-nostore* ]] && echo ', `nchan_redis_storage_mode nostore`')$( [[ $STORE == redis-nostore-fast ]] && echo ', `nchan_redis_nostore_fastpublish on`'), Herald \`use_redis: on\`$( [[ $STORE == redis-nostore* ]] && echo ', `redis_storage_mode: nostore`')$( [[ $STORE == redis-nostore-fast ]] && echo ', `redis_nostore_fastpublish: on`')). Redis's CPU counts in the server CPU rows.$( ((NODES == 2)) && echo " Publishers talk to node 1 and subscribers to node 2 (port + 10), so every delivery crosses Redis; each node has $CORES cores' worth of workers on the same machine.")"
	fi
	echo
	echo "Commands (PORT is $HERALD_PORT for Herald and $NCHAN_PORT for Nchan; PIDS are the server's pids: Herald's, or nginx's master and workers):"
	echo
	echo "    GOMAXPROCS=$CORES $WORK/herald serve -c herald.yaml   # herald config defaults, listen 127.0.0.1:$HERALD_PORT, plus a publish_batch location at /batch and an interval-poll subscriber at /isub/<id>"
	if [[ $SERVERS == *nchan* ]]; then
		if ((USE_NS)); then
			echo "    unshare --mount --propagation private sh -c \"mount --bind $WORK/varlib /var/lib && exec $(nginx_cmd)\""
		else
			echo "    $(nginx_cmd)"
		fi
	fi
	for scen in $SCENARIOS; do
		if [[ $scen == publish-batch ]]; then
			echo "    herald bench $(scenario_args "$scen" herald PORT) --pub 'http://127.0.0.1:PORT/pub/{ch}' --sub 'http://127.0.0.1:PORT/sub/{ch}' --server-pid PIDS... --json   # $scen, Herald"
			echo "    herald bench $(scenario_args "$scen" nchan PORT) --pub 'http://127.0.0.1:PORT/pub/{ch}' --sub 'http://127.0.0.1:PORT/sub/{ch}' --server-pid PIDS... --json   # $scen, Nchan (no batch publish)"
			continue
		fi
		echo "    herald bench $(scenario_args "$scen") --pub 'http://127.0.0.1:PORT/pub/{ch}' --sub 'http://127.0.0.1:PORT/$(sub_path "$scen")/{ch}' --server-pid PIDS... --json   # $scen"
	done
	echo
	if [[ $SERVERS == *nchan* ]]; then
		echo "<details><summary>nchan.conf</summary>"
		echo
		grep -v '^\s*$' "$NCHAN_PREFIX/nchan.conf" | sed 's/^/    /'
		echo
		echo "</details>"
		echo
	fi
	"$WORK/report" tables "$RESULTS" "$WORK/env"
	echo "<!-- END COMPARE -->"
} >"$OUT"
log "wrote $OUT"

if ((WRITE_DOCS)); then
	if grep -q '^<!-- BEGIN COMPARE -->' "$DOCS" && grep -q '^<!-- END COMPARE -->' "$DOCS"; then
		awk -v f="$OUT" '
			/^<!-- BEGIN COMPARE -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
			/^<!-- END COMPARE -->/ { skip = 0; next }
			!skip { print }' "$DOCS" >"$DOCS.tmp"
		mv "$DOCS.tmp" "$DOCS"
	else
		{ echo; cat "$OUT"; } >>"$DOCS"
	fi
	log "updated $DOCS"
fi
cat "$OUT"
