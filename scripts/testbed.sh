#!/usr/bin/env bash
# The real test bed: pcscd with the vpcd virtual readers, a private PulseAudio
# server with the `virtmic` virtual microphone, and Xvfb.
#
#   scripts/testbed.sh start [pcscd] [pulse] [xvfb]   start (default: all), print the environment
#   scripts/testbed.sh env                             print the environment again
#   scripts/testbed.sh stop                            stop what `start` started
#
# `eval "$(scripts/testbed.sh start)"` points this shell's clients at the bed.
# Teardown is by recorded PID only: nothing is ever killed by name.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${TESTBED_DIR:-$ROOT/target/testbed}"
ENV_FILE="$DIR/env"
mkdir -p "$DIR"

log() { echo "testbed: $*" >&2; }
die() { log "$*"; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits up to $1 tenths of a second for the command after it to succeed.
wait_for() {
  local tenths="$1"; shift
  for _ in $(seq "$tenths"); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  "$@"
}

listening() { ss -Hltn "sport = :$1" | grep -q LISTEN; }

vpcd_ready() {
  [ -S /run/pcscd/pcscd.comm ] && listening 35963 && listening 35964
}

start_pcscd() {
  if vpcd_ready; then
    log "pcscd with vpcd already running; using it"
    return
  fi
  [ -f /etc/reader.conf.d/vpcd ] || die "vpcd is not installed; run scripts/setup.sh"
  mkdir -p /run/pcscd
  pcscd --foreground > "$DIR/pcscd.log" 2>&1 &
  echo $! > "$DIR/pcscd.pid"
  # Check readiness by listening sockets only: connecting to vpcd would insert a card.
  wait_for 100 vpcd_ready || die "pcscd did not come up with vpcd; see $DIR/pcscd.log"
  log "pcscd ready (pid $(cat "$DIR/pcscd.pid")), vpcd on 35963 and 35964"
}

pulse_socket="$DIR/pulse/native"

start_pulse() {
  if alive "$DIR/pulseaudio.pid" && [ -S "$pulse_socket" ]; then
    log "PulseAudio already running"
    return
  fi
  mkdir -p "$DIR/pulse/home"
  cat > "$DIR/pulse/virtmic.pa" <<PA
load-module module-native-protocol-unix auth-anonymous=1 socket=$pulse_socket
load-module module-null-sink sink_name=virtmic_sink rate=16000 channels=1 format=s16le sink_properties=device.description=VirtualMicSink
load-module module-remap-source master=virtmic_sink.monitor source_name=virtmic source_properties=device.description=virtmic
set-default-source virtmic
set-default-sink virtmic_sink
PA
  rm -f "$pulse_socket"
  HOME="$DIR/pulse/home" XDG_RUNTIME_DIR="$DIR/pulse" \
    pulseaudio -n --daemonize=no --exit-idle-time=-1 --use-pid-file=no \
    --disable-shm=yes -F "$DIR/pulse/virtmic.pa" > "$DIR/pulseaudio.log" 2>&1 &
  echo $! > "$DIR/pulseaudio.pid"
  wait_for 100 test -S "$pulse_socket" || die "PulseAudio did not start; see $DIR/pulseaudio.log"
  wait_for 50 env PULSE_SERVER="unix:$pulse_socket" pactl info > /dev/null 2>&1 \
    || die "PulseAudio does not answer; see $DIR/pulseaudio.log"
  # Keeps the sink running so capture never starts on a suspended device.
  PULSE_SERVER="unix:$pulse_socket" pacat --playback --device=virtmic_sink \
    --format=s16le --rate=16000 --channels=1 < /dev/zero > "$DIR/pacat.log" 2>&1 &
  echo $! > "$DIR/pacat.pid"
  log "PulseAudio ready (pid $(cat "$DIR/pulseaudio.pid")), source virtmic"
}

start_xvfb() {
  if alive "$DIR/xvfb.pid" && [ -f "$DIR/display" ]; then
    log "Xvfb already running on $(cat "$DIR/display")"
    return
  fi
  local n=99
  while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
  Xvfb ":$n" -screen 0 1366x900x24 -nolisten tcp > "$DIR/xvfb.log" 2>&1 &
  echo $! > "$DIR/xvfb.pid"
  wait_for 100 test -S "/tmp/.X11-unix/X$n" || die "Xvfb did not start; see $DIR/xvfb.log"
  echo ":$n" > "$DIR/display"
  log "Xvfb ready on :$n (pid $(cat "$DIR/xvfb.pid"))"
}

write_env() {
  {
    if [ -S "$pulse_socket" ]; then echo "export PULSE_SERVER=unix:$pulse_socket"; fi
    if [ -f "$DIR/display" ] && alive "$DIR/xvfb.pid"; then echo "export DISPLAY=$(cat "$DIR/display")"; fi
    echo "export TESTBED_DIR=$DIR"
  } > "$ENV_FILE"
  cat "$ENV_FILE"
}

stop_one() {
  local pidfile="$DIR/$1.pid"
  if [ -f "$pidfile" ]; then
    local pid; pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      log "stopped $1 (pid $pid)"
    fi
    rm -f "$pidfile"
  fi
}

cmd="${1:-start}"
shift || true
case "$cmd" in
  start)
    services=("$@")
    [ "${#services[@]}" -gt 0 ] || services=(pcscd pulse xvfb)
    for s in "${services[@]}"; do
      case "$s" in
        pcscd) start_pcscd ;;
        pulse) start_pulse ;;
        xvfb) start_xvfb ;;
        *) die "unknown service $s (pcscd, pulse, xvfb)" ;;
      esac
    done
    write_env
    ;;
  env) cat "$ENV_FILE" ;;
  stop)
    for s in pacat pulseaudio xvfb pcscd; do stop_one "$s"; done
    rm -f "$DIR/display" "$ENV_FILE"
    ;;
  *) die "usage: $0 start [pcscd] [pulse] [xvfb] | env | stop" ;;
esac
