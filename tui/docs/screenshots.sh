#!/usr/bin/env bash
# Renders the README screenshots from clicktui running in a real terminal (tmux)
# against a running core, e.g. one started with
#   go run ./deploy/local --demo --data /tmp/tuidemo --admin-token local-admin-token-0123
# Usage: tui/docs/screenshots.sh [core URL] [token]   (from the repository root)
# Needs tmux, python3 and ImageMagick.
set -euo pipefail
core=${1:-http://127.0.0.1:8090}
token=${2:-${CLICKAGG_ADMIN_TOKEN:?pass the admin token}}
out=$(dirname "$0")
bin=$(mktemp -d)/clicktui
go build -o "$bin" ./tui/cmd/clicktui
session=clicktui-shots-$$

shoot() { # name, then keys to press first
	local name=$1; shift
	for k in "$@"; do tmux send-keys -t "$session" "$k"; sleep 0.3; done
	sleep 2.5 # two polls
	tmux capture-pane -p -e -t "$session" > "$out/$name.ansi"
	python3 "$out/ansi2png.py" "$out/$name.ansi" "$out/$name.png"
	rm "$out/$name.ansi"
	echo "$out/$name.png"
}

run() { # extra env and flags for clicktui
	tmux kill-session -t "$session" 2>/dev/null || true
	tmux new-session -d -s "$session" -x 80 -y 24 \
		"env LANG=C.UTF-8 TERM=xterm-256color $1 $bin --core $core --token $token $2"
	sleep 2
}

trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
run "" ""
shoot top
shoot drilldown Enter
shoot edges 3
shoot filters 4
shoot health 5
shoot help '?'
run "NO_COLOR=1" "--charset ascii --window 15"
shoot top-mono
