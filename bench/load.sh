#!/usr/bin/env bash
# Load benchmark: the throughput of authenticated requests, side by side with the heartbeat.
#
# Builds and starts the release server in a scratch directory, drives each mode with wrk for
# the same time, connections and threads, one mode after the other in this one run, and prints
# each mode's requests per second and its ratio to the public heartbeat. Absolute numbers say
# little on a shared machine; compare the ratios. It always exits 0 once it has measured.
#
# Usage: bench/load.sh [--duration SECS] [--warmup SECS] [--connections N] [--threads N]
#                      [--port PORT] [--rounds N] [--binary PATH]
# With DATABASE_URL=postgres://user@host:port[/db] it runs on PostgreSQL, in a scratch database
# that it creates and drops (the database named in the URL is only used to issue those two).
set -euo pipefail

# Each authenticated mode should keep at least this share of the heartbeat's throughput.
readonly TARGET_RATIO=0.70

readonly ADMIN_USERNAME=bench
readonly ADMIN_PASSWORD=bench-password

duration_secs=10
warmup_secs=2
connections=16
# The generator shares the machine's cores with the server: keep it to one or two threads.
threads=1
port=18080
rounds=1
# Set by --binary to measure a given build instead of building the working tree.
prebuilt_binary=

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=${CARGO_TARGET_DIR:-$repo_root/target}/release/romm-server

workdir=
server_pid=
base_url=
database_url=
admin_database_url=
scratch_database=

# Per mode, one sample per round, space-separated, in round order.
declare -A rates=() p99s_ms=() cpu_us_per_request=() warnings=()
measured_modes=()
round=0
clock_ticks_per_sec=$(getconf CLK_TCK)

usage() {
    cat <<'EOF'
Usage: bench/load.sh [options]

  --duration SECS     measured time per mode (default 10)
  --warmup SECS       unmeasured load before each mode (default 2; 0 for none)
  --connections N     open connections, the same for every mode (default 16)
  --threads N         wrk threads, the same for every mode (default 1; keep it at 1 or 2)
  --port PORT         loopback port for the server (default 18080)
  --rounds N          measure every mode N times in turn and report medians (default 1)
  --binary PATH       measure this romm-server build instead of building the working tree

Environment: DATABASE_URL=postgres://user@host:port[/db] runs on PostgreSQL in a scratch
database; unset, the server uses its default SQLite file in a temporary directory.
EOF
}

fail() {
    echo "load.sh: $*" >&2
    exit 1
}

parse_options() {
    while (($# > 0)); do
        local option=$1
        local value=${2:-}
        case $option in
            --duration) duration_secs=$value ;;
            --warmup) warmup_secs=$value ;;
            --connections) connections=$value ;;
            --threads) threads=$value ;;
            --port) port=$value ;;
            --rounds) rounds=$value ;;
            --binary) prebuilt_binary=$value ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                echo "load.sh: unknown option $option" >&2
                usage >&2
                exit 2
                ;;
        esac
        if [[ $option == --binary ]]; then
            [[ -x $value ]] || fail "--binary needs the path of an executable"
            # The server starts in a scratch directory, where a relative path would not resolve.
            prebuilt_binary=$(realpath "$value")
        else
            [[ $value =~ ^[0-9]+$ ]] || fail "$option needs a whole number"
        fi
        shift 2
    done

    ((duration_secs > 0 && connections > 0 && threads > 0 && rounds > 0)) \
        || fail "--duration, --connections, --threads and --rounds must be at least 1"
    ((threads <= connections)) || fail "wrk needs at least one connection per thread"
    ((port > 0 && port < 65536)) || fail "--port must be between 1 and 65535"
}

ensure_wrk() {
    if command -v wrk >/dev/null; then
        return
    fi
    ((EUID == 0)) || fail "wrk is missing; install the Debian package wrk"

    # The package lists are refreshed only when the install cannot find the package.
    echo "installing wrk..." >&2
    if ! apt-get install -y -q wrk >&2; then
        apt-get update -q >&2
        apt-get install -y -q wrk >&2
    fi
}

# Whether the process is alive; an exited child stays a zombie until waited for.
is_running() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true

    # Graceful shutdown takes a moment; a server stuck past five seconds is killed.
    local deadline=$((SECONDS + 5))
    while is_running "$server_pid" && ((SECONDS < deadline)); do
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

cleanup() {
    if [[ -n $server_pid ]]; then
        stop_server
    fi

    if [[ -n $scratch_database ]]; then
        psql -X -q -v ON_ERROR_STOP=1 -d "$admin_database_url" \
            -c "DROP DATABASE IF EXISTS $scratch_database WITH (FORCE)" \
            || echo "load.sh: could not drop the scratch database $scratch_database" >&2
    fi

    if [[ -n $workdir ]]; then
        rm -rf "$workdir"
    fi
}

# Chooses the server's database URL, creating a scratch PostgreSQL database when asked for one.
prepare_database() {
    local url=${DATABASE_URL:-}
    database_url=$url
    if [[ $url != postgres://* && $url != postgresql://* ]]; then
        return
    fi

    # Groups: 1 scheme, credentials and host; 4 database name; 5 query string.
    [[ $url =~ ^(postgres(ql)?://[^/?]+)(/([^?]*))?(\?.*)?$ ]] \
        || fail "cannot read DATABASE_URL as postgres://user@host:port[/db]"
    local server=${BASH_REMATCH[1]}
    local maintenance_database=${BASH_REMATCH[4]:-postgres}
    local query=${BASH_REMATCH[5]}
    command -v psql >/dev/null || fail "psql is missing; it creates the scratch database"

    admin_database_url=$server/$maintenance_database$query
    local name=romm_bench_$$
    psql -X -q -v ON_ERROR_STOP=1 -d "$admin_database_url" -c "CREATE DATABASE $name"
    scratch_database=$name
    database_url=$server/$name$query
}

start_server() {
    # The port must be free, or the readiness check would be answered by someone else.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        fail "port $port is already in use; choose another with --port"
    fi

    # The server sees only the settings chosen here, not whatever this shell exports.
    local settings=(
        "ROMM_LISTEN=127.0.0.1:$port"
        "ROMM_ADMIN_USERNAME=$ADMIN_USERNAME"
        "ROMM_ADMIN_PASSWORD=$ADMIN_PASSWORD"
        "RUST_LOG=warn"
    )
    if [[ -n $database_url ]]; then
        settings+=("DATABASE_URL=$database_url")
    fi
    (cd "$workdir" && exec env -i "${settings[@]}" "$binary" serve) \
        >"$workdir/server.log" 2>&1 &
    server_pid=$!
}

wait_until_ready() {
    local deadline=$((SECONDS + 60))
    until curl -fs -o /dev/null "$base_url/api/heartbeat"; do
        if ! is_running "$server_pid" || ((SECONDS >= deadline)); then
            echo "load.sh: the server did not become ready; its log follows" >&2
            cat "$workdir/server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
}

# Logs in the way RomM's web UI does, Basic credentials and an empty body, and prints the
# Cookie header a browser would then send: the session and its CSRF token.
browser_cookie_header() {
    local headers=$workdir/login.headers
    curl -fsS -X POST -u "$ADMIN_USERNAME:$ADMIN_PASSWORD" -D "$headers" -o /dev/null \
        "$base_url/api/login"

    local session csrf
    session=$(sed -n 's/^set-cookie: romm_session=\([^;]*\).*/\1/Ip' "$headers")
    csrf=$(sed -n 's/^set-cookie: romm_csrftoken=\([^;]*\).*/\1/Ip' "$headers")
    [[ -n $session ]] || fail "POST /api/login set no romm_session cookie"
    echo "Cookie: romm_session=$session; romm_csrftoken=$csrf"
}

# Runs the OAuth2 password grant and prints the Authorization header of its access token.
jwt_header() {
    local token
    token=$(curl -fsS "$base_url/api/token" -d "username=$ADMIN_USERNAME" \
        -d "password=$ADMIN_PASSWORD" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
    [[ -n $token ]] || fail "POST /api/token issued no access token"
    echo "Authorization: Bearer $token"
}

# Mints a client API token over Basic and prints the Authorization header that carries it.
client_token_header() {
    local token
    token=$(curl -fsS -u "$ADMIN_USERNAME:$ADMIN_PASSWORD" -H 'Content-Type: application/json' \
        -d '{"name": "bench", "scopes": ["me.read"], "expires_in": null}' \
        "$base_url/api/client-tokens" | sed -n 's/.*"raw_token":"\(rmm_[0-9a-f]*\)".*/\1/p')
    [[ -n $token ]] || fail "POST /api/client-tokens returned no raw token"
    echo "Authorization: Bearer $token"
}

# Prints the CPU time the server has used so far, all threads, user and system, in ticks.
server_cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$server_pid/stat"
}

# Reads a wrk duration such as 950.00us, 7.86ms or 1.20s and prints it in milliseconds.
to_milliseconds() {
    awk '{
        value = $1 + 0
        if ($1 ~ /us$/) value /= 1000
        else if ($1 ~ /ms$/) value *= 1
        else if ($1 ~ /m$/) value *= 60000
        else if ($1 ~ /s$/) value *= 1000
        printf "%.2f\n", value
    }'
}

# Appends one value to a mode's space-separated list in the named associative array.
append_sample() {
    local -n samples=$1
    samples[$2]+="${samples[$2]:+ }$3"
}

# measure NAME PATH [HEADER...]: loads PATH with the given headers and records one sample.
measure() {
    local name=$1
    local path=$2
    shift 2
    local header_options=()
    local header
    for header in "$@"; do
        header_options+=(-H "$header")
    done

    # A mode answered with anything but 200 would time an error path, not the real one.
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' "${header_options[@]}" "$base_url$path" \
        || true)
    [[ $status == 200 ]] || fail "mode $name: GET $path answered $status instead of 200"

    local load=(wrk -t "$threads" -c "$connections" "${header_options[@]}")
    if ((warmup_secs > 0)); then
        "${load[@]}" -d "${warmup_secs}s" "$base_url$path" >/dev/null
    fi

    # The server's CPU time per request does not depend on how much of the machine others
    # leave free, so it stays comparable when throughput is disturbed by them.
    echo "round $round: measuring $name for ${duration_secs}s..." >&2
    local report cpu_ticks_before cpu_ticks_after
    cpu_ticks_before=$(server_cpu_ticks)
    report=$("${load[@]}" -d "${duration_secs}s" --latency "$base_url$path")
    cpu_ticks_after=$(server_cpu_ticks)

    local rate requests cpu_us p99 problems
    rate=$(awk '$1 == "Requests/sec:" { print $2 }' <<<"$report")
    requests=$(awk '$2 == "requests" && $3 == "in" { print $1 }' <<<"$report")
    cpu_us=$(awk -v ticks=$((cpu_ticks_after - cpu_ticks_before)) -v hz="$clock_ticks_per_sec" \
        -v requests="$requests" 'BEGIN { printf "%.1f\n", ticks / hz * 1e6 / requests }')
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$report" | to_milliseconds)
    problems=$(grep -E 'Non-2xx|Socket errors' <<<"$report" \
        | awk '{ sub(/^ +/, ""); printf "%s%s", (NR > 1 ? " | " : ""), $0 }' || true)

    if [[ -z ${rates[$name]+set} ]]; then
        measured_modes+=("$name")
    fi
    append_sample rates "$name" "$rate"
    append_sample p99s_ms "$name" "$p99"
    append_sample cpu_us_per_request "$name" "$cpu_us"
    if [[ -n $problems ]]; then
        warnings[$name]+="${warnings[$name]:+; }round $round: $problems"
    fi
}

# Prints the median of a space-separated list of numbers.
median() {
    tr ' ' '\n' <<<"$1" | sort -g | awk '
        { values[NR] = $1 }
        END { print (NR % 2) ? values[(NR + 1) / 2] : (values[NR / 2] + values[NR / 2 + 1]) / 2 }'
}

# Prints each round's ratio of a mode's rate to the heartbeat's in the same round.
round_ratios() {
    paste -d ' ' <(tr ' ' '\n' <<<"${rates[$1]}") <(tr ' ' '\n' <<<"${rates[heartbeat]}") \
        | awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 / $2 } END { print "" }'
}

print_results() {
    echo
    printf '%-14s %12s %10s %16s %8s\n' mode requests/s "p99 (ms)" "server CPU/req" ratio
    local name
    for name in "${measured_modes[@]}"; do
        printf '%-14s %12.0f %10.2f %13.1f us %8.2f\n' "$name" "$(median "${rates[$name]}")" \
            "$(median "${p99s_ms[$name]}")" "$(median "${cpu_us_per_request[$name]}")" \
            "$(median "$(round_ratios "$name")")"
    done

    # The verdict compares the ratio as printed, so 0.70 on screen always meets 0.70.
    echo
    for name in "${measured_modes[@]}"; do
        if [[ $name == heartbeat ]]; then
            continue
        fi
        local ratios ratio verdict
        ratios=$(round_ratios "$name")
        ratio=$(printf '%.2f' "$(median "$ratios")")
        verdict=$(awk -v ratio="$ratio" -v target="$TARGET_RATIO" \
            'BEGIN { print (ratio + 0 >= target + 0) ? "meets" : "is below" }')
        printf '%s/heartbeat = %s  (%s the %s target' "$name" "$ratio" "$verdict" "$TARGET_RATIO"
        if ((rounds > 1)); then
            printf '; per round %s' "$ratios"
        fi
        echo ")"
    done

    for name in "${measured_modes[@]}"; do
        if [[ -n ${warnings[$name]:-} ]]; then
            echo "warning: $name: ${warnings[$name]}"
        fi
    done
}

main() {
    parse_options "$@"
    ensure_wrk
    command -v curl >/dev/null || fail "curl is missing"

    if [[ -n $prebuilt_binary ]]; then
        binary=$prebuilt_binary
    else
        cargo build --release --manifest-path "$repo_root/Cargo.toml"
    fi

    workdir=$(mktemp -d "${TMPDIR:-/tmp}/romm-bench.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local backend=SQLite
    prepare_database
    if [[ -n $scratch_database ]]; then
        backend="PostgreSQL ($scratch_database)"
    fi
    base_url=http://127.0.0.1:$port
    start_server
    wait_until_ready

    local cookie basic jwt client_token
    cookie=$(browser_cookie_header)
    basic="Authorization: Basic $(printf '%s:%s' "$ADMIN_USERNAME" "$ADMIN_PASSWORD" | base64 -w0)"
    jwt=$(jwt_header)
    client_token=$(client_token_header)

    echo "backend $backend; $rounds round(s) of ${duration_secs}s per mode after" \
        "${warmup_secs}s of warm-up; $connections connections; wrk with $threads thread(s)," \
        "sharing the machine's $(nproc) cores with the server"

    # One call per mode: a name, the path, then the headers carrying the mode's credential.
    # The heartbeat comes first; every other mode is reported as a ratio to it. Rounds run
    # the modes in turn, so a burst of load from elsewhere falls on all of them alike.
    for ((round = 1; round <= rounds; round++)); do
        measure heartbeat /api/heartbeat
        measure session /api/users/me "$cookie"
        measure basic /api/users/me "$basic"
        measure jwt /api/users/me "$jwt"
        measure rmm_token /api/users/me "$client_token"
    done

    print_results
}

main "$@"
