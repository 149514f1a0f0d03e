#!/bin/sh
# Parley quick start: a bootstrap server, Alice's and Bob's daemons, a contact
# request, a call whose SAS both sides show, a hang-up. README.md shows this
# file verbatim, step by step, and test/e2e runs it, so the two cannot drift.
# The defaults run everything on this machine, on loopback: run it with
# parley-bootstrap, parleyd and parley on your PATH (go build -o bin/ ./cmd/...;
# PATH=$PWD/bin:$PATH sh docs/quickstart.sh). README.md says what to change to
# run each step on its own machine.
set -eu

: "${QS_DIR:=./parley-quickstart}" # data directories and logs
: "${BS_IP:=127.0.0.1}"            # address the bootstrap listens on
: "${BS_PORT:=4001}"               # its libp2p port, TCP and UDP (QUIC); 0 = any
: "${TURN_PORT:=3478}"             # its STUN/TURN port, UDP and TCP; 0 = any
: "${METRICS_PORT=9464}"           # its /metrics and /healthz port, on 127.0.0.1; empty = none
: "${BS_FLAGS=--turn-allow-private-peers}"
: "${PARLEYD_FLAGS=--listen /ip4/127.0.0.1/tcp/0 --listen /ip4/127.0.0.1/udp/0/quic-v1 --ice-loopback}"
: "${QS_TIMEOUT:=30}" # seconds to wait for each step

# On failure or Ctrl-C, stop what was started.
trap 'kill ${ALICE_PID-} ${BOB_PID-} ${BS_PID-} 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM

# wait_for CMD...: run CMD every 0.2 s until it succeeds (at most QS_TIMEOUT s).
wait_for() {
	n=0
	until "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		if [ "$n" -gt $((QS_TIMEOUT * 5)) ]; then
			echo "quickstart: gave up waiting for: $*" >&2
			return 1
		fi
		sleep 0.2
	done
}
# bootstrap_started: wait for the bootstrap's addrs.txt; if it exits
# instead, or does not start in time, show the end of its log.
bootstrap_started() {
	n=0
	until test -s "$QS_DIR/bootstrap/addrs.txt"; do
		n=$((n + 1))
		if ! kill -0 "$BS_PID" 2>/dev/null || [ "$n" -gt $((QS_TIMEOUT * 5)) ]; then
			echo "quickstart: parley-bootstrap did not start (its ports are the settings BS_PORT, TURN_PORT and METRICS_PORT); the end of $QS_DIR/bootstrap.log:" >&2
			tail -n 20 "$QS_DIR/bootstrap.log" >&2
			return 1
		fi
		sleep 0.2
	done
}
published() { parley --data "$1" status | grep '^Published:' | grep -qv 'not yet'; }
account_id() { parley --data "$1" status | awk '/^Account ID:/ { print $3 }'; }
has_contact() { parley --data "$1" contacts | grep -q "^$2 .*$3"; }
hears() { parley --data "$1" calls | grep -q "hearing a $2 Hz tone"; }
mkdir -p "$QS_DIR"

# 1. The bootstrap server. It prints the address daemons need and writes it
#    to addrs.txt in its data directory.
parley-bootstrap --data-dir "$QS_DIR/bootstrap" \
	--listen "/ip4/$BS_IP/tcp/$BS_PORT" --listen "/ip4/$BS_IP/udp/$BS_PORT/quic-v1" \
	--turn-listen "$BS_IP:$TURN_PORT" --metrics-addr "${METRICS_PORT:+127.0.0.1:$METRICS_PORT}" \
	$BS_FLAGS >"$QS_DIR/bootstrap.log" 2>&1 &
BS_PID=$!
bootstrap_started
BOOTSTRAP=$(head -n 1 "$QS_DIR/bootstrap/addrs.txt")
echo "bootstrap address: $BOOTSTRAP"

# 2. A daemon for Alice and one for Bob. init makes the account's keypair
#    on the device; run joins the network and serves the local API that
#    parley talks to. (No passphrase here: see --passphrase-file.)
parleyd init --data "$QS_DIR/alice" --name alice-laptop </dev/null
parleyd run --data "$QS_DIR/alice" --bootstrap "$BOOTSTRAP" $PARLEYD_FLAGS \
	</dev/null >"$QS_DIR/alice.log" 2>&1 &
ALICE_PID=$!
parleyd init --data "$QS_DIR/bob" --name bob-laptop </dev/null
parleyd run --data "$QS_DIR/bob" --bootstrap "$BOOTSTRAP" $PARLEYD_FLAGS \
	</dev/null >"$QS_DIR/bob.log" 2>&1 &
BOB_PID=$!
wait_for published "$QS_DIR/alice"
wait_for published "$QS_DIR/bob"
parley --data "$QS_DIR/alice" status
# The first device of an account is its admin: it holds the account key,
# which links, promotes and revokes devices. A device linked later is a
# member, which does not (README, "Link a second device").
parley --data "$QS_DIR/alice" devices

# 3. Share your ID: the "Account ID" that status shows. It is not a secret;
#    send it to the other person any way you like.
ALICE=$(account_id "$QS_DIR/alice")
BOB=$(account_id "$QS_DIR/bob")

# 4. Add a contact: Alice sends a request, Bob sees it and accepts.
parley --data "$QS_DIR/alice" contact add "$BOB" --name Bob --message "hi, it is Alice"
wait_for has_contact "$QS_DIR/bob" request-received "$ALICE"
parley --data "$QS_DIR/bob" contacts
parley --data "$QS_DIR/bob" contact accept "$ALICE"
wait_for has_contact "$QS_DIR/alice" accepted "$BOB"

# 5. Call. Bob's daemon answers contacts by itself here (else Bob runs
#    parley answer); Alice sends a 700 Hz tone and waits for media. Both
#    sides show the same SAS: read it to each other. Bob hears the tone.
parley --data "$QS_DIR/bob" set calls.auto_answer contacts
parley --data "$QS_DIR/alice" call "$BOB" --audio tone:700 --wait 20s
wait_for hears "$QS_DIR/bob" 700
parley --data "$QS_DIR/bob" calls
parley --data "$QS_DIR/alice" hangup

# 6. Stop the daemons and the bootstrap: SIGTERM, and each exits cleanly.
kill "$ALICE_PID" "$BOB_PID" "$BS_PID"
wait "$ALICE_PID"
wait "$BOB_PID"
wait "$BS_PID"
trap - EXIT
echo "quickstart: done; data and logs are in $QS_DIR"
