# shellcheck shell=bash disable=SC2153 # KAFKA_PORT etc. come from common.sh
# Kafka (KRaft, single node broker+controller) from Maven Central jars.
# Sourced after common.sh.

KAFKA_MAVEN_REPO="https://repo.maven.apache.org/maven2"
KAFKA_DIR="$STACK_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CONFIG="$KAFKA_DIR/server.properties"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_LOG="$LOG_DIR/kafka.log"
KAFKA_OUT="$LOG_DIR/kafka.out"
KAFKA_SERVER_HEAP="-Xms256m -Xmx768m"

# Main classes (verified in the 4.x jars: kafka_2.13 and kafka-tools).
KAFKA_MAIN_BROKER="kafka.Kafka"
KAFKA_MAIN_STORAGE="kafka.tools.StorageTool"
KAFKA_MAIN_TOPICS="org.apache.kafka.tools.TopicCommand"

require_java() {
  require_cmd java "install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
  local line major
  line="$(java -version 2>&1 | head -n1)"
  major="$(sed -E 's/.*version "([0-9]+)(\.([0-9]+))?.*/\1 \3/' <<<"$line")"
  # "1.8.0_x" style => 8
  if [[ "${major%% *}" == 1 ]]; then major="${major##* }"; else major="${major%% *}"; fi
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot parse the Java version from '$line': install a JDK 17+ (apt-get install openjdk-17-jre-headless)"
  (( major >= 17 )) || die "java is version $major, Kafka 4.x needs 17+: install openjdk-17-jre-headless and put it first on PATH"
}

# Prints the newest 4.x version for which both kafka_2.13 and kafka-tools are
# published (Maven Central sometimes has the broker before the tools).
kafka_latest_version() {
  local broker tools
  broker="$(curl -fsS --max-time 20 "$KAFKA_MAVEN_REPO/org/apache/kafka/kafka_2.13/maven-metadata.xml" 2>/dev/null \
            | sed -nE 's#.*<version>(4\.[0-9]+\.[0-9]+)</version>.*#\1#p')" || return 1
  tools="$(curl -fsS --max-time 20 "$KAFKA_MAVEN_REPO/org/apache/kafka/kafka-tools/maven-metadata.xml" 2>/dev/null \
            | sed -nE 's#.*<version>(4\.[0-9]+\.[0-9]+)</version>.*#\1#p')" || return 1
  comm -12 <(sort -u <<<"$broker") <(sort -u <<<"$tools") | sort -V | tail -n1 | grep .
}

# Sets KAFKA_VERSION_RESOLVED and KAFKA_HOME (does not download anything).
kafka_resolve_version() {
  local v="${KAFKA_VERSION:-$SO_DEFAULT_KAFKA_VERSION}"
  if [[ "$v" == latest ]]; then
    require_cmd curl "install curl (apt-get install curl), or set KAFKA_VERSION to a fixed version such as $SO_DEFAULT_KAFKA_VERSION"
    if ! v="$(kafka_latest_version)"; then
      v="$(find "$CACHE_DIR" -maxdepth 2 -path "$CACHE_DIR/kafka-4.*/.complete" 2>/dev/null \
           | sed -E 's#.*/kafka-([^/]+)/\.complete#\1#' | sort -V | tail -n1)"
      [[ -n "$v" ]] || die "KAFKA_VERSION=latest: cannot read maven-metadata.xml from $KAFKA_MAVEN_REPO: check network access or set KAFKA_VERSION=$SO_DEFAULT_KAFKA_VERSION"
      warn "KAFKA_VERSION=latest: Maven Central unreachable, using newest cached Kafka $v"
    fi
  fi
  [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "KAFKA_VERSION=$v is not a release version like $SO_DEFAULT_KAFKA_VERSION (or 'latest')"
  [[ "${v%%.*}" -ge 4 ]] || die "KAFKA_VERSION=$v: these scripts need Kafka 4.x (log4j2, org.apache.kafka.tools.*): set KAFKA_VERSION=$SO_DEFAULT_KAFKA_VERSION"
  KAFKA_VERSION_RESOLVED="$v"
  KAFKA_HOME="$CACHE_DIR/kafka-$v"
}

# Download broker + tools jars once into $KAFKA_HOME/libs (shared cache).
kafka_fetch() {
  local marker="$KAFKA_HOME/.complete"
  [[ -f "$marker" ]] && return 0

  require_cmd mvn "install Maven (apt-get install maven)"
  mkdir -p "$CACHE_DIR" || die "cannot create cache dir $CACHE_DIR: check permissions or set SIGNALOPS_CACHE_DIR"
  # Another stack instance may be fetching the same version right now.
  exec 9>"$CACHE_DIR/.kafka-$KAFKA_VERSION_RESOLVED.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 9 || die "timed out waiting for another fetch of Kafka $KAFKA_VERSION_RESOLVED (lock in $CACHE_DIR)"
  fi
  if [[ -f "$marker" ]]; then exec 9>&-; return 0; fi

  local v="$KAFKA_VERSION_RESOLVED" build="$KAFKA_HOME.build" fetch_log="$CACHE_DIR/kafka-$KAFKA_VERSION_RESOLVED.fetch.log"
  log "fetching Kafka $v jars with Maven into $(rel "$KAFKA_HOME/libs") (one time, ~45 MB)"
  rm -rf "$build"
  mkdir -p "$build"
  cp "$SO_LOCAL_DIR/kafka/pom.xml" "$build/pom.xml"
  if ! (cd "$build" && mvn -B -q -Dstyle.color=never \
          -Dmaven.repo.local="$CACHE_DIR/m2" \
          -Dkafka.version="$v" \
          dependency:copy-dependencies \
          -DincludeScope=runtime \
          -DoutputDirectory="$build/libs" ) </dev/null >"$fetch_log" 2>&1; then
    rm -rf "$build"
    local missing
    missing="$(grep -oE 'Could not (find|transfer) artifact [^ ]+' "$fetch_log" | head -n1 || true)"
    if [[ -n "$missing" ]]; then
      die "Maven could not fetch Kafka $v ($missing): set KAFKA_VERSION=$SO_DEFAULT_KAFKA_VERSION or check access to Maven Central; see $(rel "$fetch_log")"
    fi
    die "Maven failed to fetch Kafka $v: check access to Maven Central (repo.maven.apache.org); see $(rel "$fetch_log")"
  fi
  local jar
  for jar in "kafka_2.13-$v.jar" "kafka-tools-$v.jar" "kafka-clients-$v.jar" log4j-core-*.jar log4j-slf4j-impl-*.jar; do
    compgen -G "$build/libs/$jar" >/dev/null \
      || die "Kafka $v download is incomplete ($jar missing in $(rel "$build/libs")): delete $(rel "$KAFKA_HOME") and run up again"
  done
  rm -rf "$KAFKA_HOME"
  mkdir -p "$KAFKA_HOME"
  mv "$build/libs" "$KAFKA_HOME/libs"
  rm -rf "$build"
  printf 'kafka %s fetched %s\n' "$v" "$(date -u +%FT%TZ)" >"$marker"
  exec 9>&-
  log "Kafka $v: $(find "$KAFKA_HOME/libs" -name '*.jar' | wc -l) jars cached"
}

# Port a running broker listens on (from the config it was started with).
kafka_configured_port() { # NAME (PLAINTEXT|CONTROLLER)
  sed -nE "s#^listeners=.*$1://[^:,]+:([0-9]+).*#\1#p" "$KAFKA_CONFIG" 2>/dev/null | head -n1
}

kafka_pid() { pid_alive "$KAFKA_PIDFILE" "$KAFKA_MAIN_BROKER $KAFKA_CONFIG"; }

kafka_write_config() {
  mkdir -p "$KAFKA_DATA"
  cat >"$KAFKA_CONFIG.tmp" <<EOF
# generated by deploy/local/stack.sh on every start; edits are overwritten
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA

auto.create.topics.enable=false
num.partitions=12
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=134217728
EOF
  mv -f "$KAFKA_CONFIG.tmp" "$KAFKA_CONFIG"
}

kafka_format_once() {
  [[ -f "$KAFKA_DATA/meta.properties" ]] && return 0
  local id_file="$KAFKA_DIR/cluster.id" cid out
  # A Kafka Uuid: 16 random bytes, base64url without padding (22 chars).
  # Like Kafka's own generator, never one starting with '-': the storage
  # tool's argument parser would read it as an option.
  while [[ ! -s "$id_file" || "$(head -c 1 "$id_file")" == "-" ]]; do
    head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$id_file"
  done
  cid="$(cat "$id_file")"
  log "formatting KRaft storage in $(rel "$KAFKA_DATA") (cluster id $cid)"
  if ! out="$(java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
          -Dlog4j2.configurationFile="$SO_LOCAL_DIR/kafka/log4j2-tools.xml" \
          -cp "$KAFKA_HOME/libs/*" "$KAFKA_MAIN_STORAGE" format \
          --config "$KAFKA_CONFIG" --cluster-id "$cid" 2>&1 </dev/null)"; then
    printf '%s\n' "$out" >"$LOG_DIR/kafka-format.log"
    die "formatting Kafka storage failed: $(grep -m1 -iE 'error|exception' <<<"$out" || echo "see log") (full output in $(rel "$LOG_DIR/kafka-format.log"))"
  fi
}

kafka_start() {
  local pid running_port
  if pid="$(kafka_pid)"; then
    running_port="$(kafka_configured_port PLAINTEXT)"
    if [[ -n "$running_port" && "$running_port" != "$KAFKA_PORT" ]]; then
      die "Kafka of $(rel "$STACK_DIR") is already running (pid $pid) on port $running_port, not $KAFKA_PORT: run 'stack.sh down' first to change SIGNALOPS_KAFKA_PORT"
    fi
    log "Kafka already running (pid $pid)"
    return 0
  fi
  rm -f "$KAFKA_PIDFILE"
  require_free_port "$KAFKA_PORT" SIGNALOPS_KAFKA_PORT "Kafka"
  require_free_port "$KAFKA_CONTROLLER_PORT" SIGNALOPS_KAFKA_CONTROLLER_PORT "Kafka controller"

  mkdir -p "$KAFKA_DIR"
  kafka_write_config
  kafka_format_once
  printf '%s\n' "$KAFKA_VERSION_RESOLVED" >"$KAFKA_DIR/version"

  # Remember where this run's output starts, to quote only fresh errors.
  KAFKA_LOG_START="$(stat -c %s "$KAFKA_LOG" 2>/dev/null || echo 0)"
  KAFKA_OUT_START="$(stat -c %s "$KAFKA_OUT" 2>/dev/null || echo 0)"
  log "starting Kafka $KAFKA_VERSION_RESOLVED on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)"
  local -a jvm
  # shellcheck disable=SC2206 # intentional word splitting of the heap flags
  jvm=($KAFKA_SERVER_HEAP
       -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
       -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
       -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true
       -Dkafka.logs.dir="$LOG_DIR"
       -Dsignalops.kafka.log.file="$KAFKA_LOG"
       -Dlog4j2.configurationFile="$SO_LOCAL_DIR/kafka/log4j2-server.xml")
  # setsid: own session, so the broker survives the shell that started it.
  # The inner shell writes its own pid and then becomes java (exec).
  # fd 8/9 (our locks) must not leak into the long-running broker.
  # shellcheck disable=SC2016 # $$/$1/$@ belong to the inner shell
  (
    cd "$KAFKA_DIR" &&
    exec setsid bash -c 'printf "%s\n" "$$" >"$1"; shift; exec "$@"' _ "$KAFKA_PIDFILE" \
      java "${jvm[@]}" -cp "$KAFKA_HOME/libs/*" "$KAFKA_MAIN_BROKER" "$KAFKA_CONFIG"
  ) </dev/null >>"$KAFKA_OUT" 2>&1 8>&- 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$KAFKA_PIDFILE" ]] && break
    sleep 0.1
  done
  [[ -s "$KAFKA_PIDFILE" ]] || die "Kafka did not start (no pid file): see $(rel "$KAFKA_OUT")"
}

# Run the topics tool once against the broker (used for readiness).
kafka_list_topics() {
  timeout 30 java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$SO_LOCAL_DIR/kafka/log4j2-tools.xml" \
    -cp "$KAFKA_HOME/libs/*" "$KAFKA_MAIN_TOPICS" \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list </dev/null
}

kafka_wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT)) err="$LOG_DIR/kafka-ready.err"
  # 1) cheap: wait for the client listener to accept connections
  while ! tcp_open "$KAFKA_PORT"; do
    if ! kafka_pid >/dev/null; then
      local why
      why="$( { tail -c +"$((${KAFKA_LOG_START:-0} + 1))" "$KAFKA_LOG"
                tail -c +"$((${KAFKA_OUT_START:-0} + 1))" "$KAFKA_OUT"; } 2>/dev/null \
              | grep -E 'ERROR|Exception|Error:' | tail -n1 | cut -c1-200 || true)"
      die "Kafka exited during startup${why:+ ($why)}; see $(rel "$KAFKA_LOG") and $(rel "$KAFKA_OUT")"
    fi
    if (( SECONDS >= deadline )); then
      die "Kafka did not become ready within ${READY_TIMEOUT}s; see $(rel "$KAFKA_LOG")"
    fi
    sleep 0.2
  done
  # 2) one real metadata request through the tools classpath
  while ! kafka_list_topics >/dev/null 2>"$err"; do
    kafka_pid >/dev/null || die "Kafka exited during startup; see $(rel "$KAFKA_LOG")"
    (( SECONDS < deadline )) || die "Kafka did not become ready within ${READY_TIMEOUT}s (metadata request failed: $(tail -n1 "$err" | cut -c1-160)); see $(rel "$KAFKA_LOG")"
    sleep 1
  done
  rm -f "$err"
}

kafka_stop() {
  local pid i
  if ! pid="$(kafka_pid)"; then
    rm -f "$KAFKA_PIDFILE"
    log "Kafka not running"
    return 0
  fi
  log "stopping Kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    proc_running "$pid" || break
    sleep 0.1
  done
  if proc_running "$pid"; then
    warn "Kafka (pid $pid) still running after 20s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do proc_running "$pid" || break; sleep 0.1; done
  fi
  rm -f "$KAFKA_PIDFILE"
}

kafka_status_line() { # prints one line; returns 0 when running
  local pid port v
  if pid="$(kafka_pid)"; then
    port="$(kafka_configured_port PLAINTEXT)"
    v="$(cat "$KAFKA_DIR/version" 2>/dev/null || echo '?')"
    printf 'kafka     running  pid %s  127.0.0.1:%s  (Kafka %s, log %s)\n' "$pid" "$port" "$v" "$(rel "$KAFKA_LOG")"
    return 0
  fi
  printf 'kafka     stopped\n'
  return 1
}

# --- CLI tool wrappers (deploy/local/bin/*) ---------------------------------

# Value of KEY from the stack's env file, if any.
_env_file_value() {
  [[ -r "$ENV_FILE" ]] || return 0
  sed -n "s/^export $1=//p" "$ENV_FILE" | tail -n1
}

# kafka_exec_tool MAIN_CLASS FAST(0|1) ARGS...: exec a Kafka CLI class from
# the cached jars, adding --bootstrap-server when the caller gave none.
kafka_exec_tool() {
  local main="$1" fast="$2"
  shift 2
  require_java
  local home="${SIGNALOPS_KAFKA_HOME:-}"
  [[ -n "$home" ]] || home="$(_env_file_value SIGNALOPS_KAFKA_HOME)"
  if [[ -z "$home" ]]; then
    kafka_resolve_version
    home="$KAFKA_HOME"
  fi
  [[ -f "$home/.complete" || -d "$home/libs" ]] \
    || die "Kafka jars not found in $home: run deploy/local/stack.sh up (or set SIGNALOPS_KAFKA_HOME)"

  local add_bootstrap=1 a
  for a in "$@"; do
    case "$a" in
      --bootstrap-server|--bootstrap-server=*|--bootstrap-controller|--bootstrap-controller=*|\
      --broker-list|--broker-list=*|*bootstrap.servers=*|--help|-h|--version)
        add_bootstrap=0 ;;
    esac
  done
  local -a extra=()
  if (( add_bootstrap )); then
    local brokers="${SIGNALOPS_KAFKA_BROKERS:-}"
    [[ -n "$brokers" ]] || brokers="$(_env_file_value SIGNALOPS_KAFKA_BROKERS)"
    [[ -n "$brokers" ]] || brokers="127.0.0.1:$KAFKA_PORT"
    extra=(--bootstrap-server "$brokers")
    # Fail fast instead of letting the admin client retry for a minute.
    local first="${brokers%%,*}"
    if [[ "$first" =~ ^([^:]+):([0-9]+)$ ]] \
       && ! (exec 3<>"/dev/tcp/${BASH_REMATCH[1]}/${BASH_REMATCH[2]}") 2>/dev/null; then
      die "Kafka is not reachable at $first: start it with deploy/local/stack.sh up (or set SIGNALOPS_KAFKA_BROKERS / pass --bootstrap-server)"
    fi
  fi

  local -a jvm=(-Xmx512m -Djava.awt.headless=true
                -Dlog4j2.configurationFile="$SO_LOCAL_DIR/kafka/log4j2-tools.xml")
  # Short admin commands start faster with C1 only and the serial GC.
  (( fast )) && jvm+=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC)
  if [[ -n "${SIGNALOPS_KAFKA_TOOLS_JAVA_OPTS:-}" ]]; then
    local -a user_opts
    read -r -a user_opts <<<"$SIGNALOPS_KAFKA_TOOLS_JAVA_OPTS"
    jvm+=("${user_opts[@]}")
  fi
  # before the user args: argparse-based tools (metadata-quorum) want global
  # options ahead of the subcommand
  exec java "${jvm[@]}" -cp "$home/libs/*" "$main" "${extra[@]}" "$@"
}
