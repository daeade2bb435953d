#!/bin/sh
# demo.sh BUILD_DIR - a branch's day, end to end, on the real commands: a
# head office on loopback (SQLite), a tablet and a laptop enrolled, head
# office's complaints pulled, worked offline on both devices while head
# office closes and reassigns, everyone syncing, conflicts shown and
# resolved, the head-office report; and the tablet's store shown to give
# nothing away.  Runs in a temporary folder it removes, and stops the hub
# it starts.
set -eu
build=${1:-build/native}
bs="$build/branchsync"
gen="$build/branchsync-gen"
hubc="$build/branchsync-hub"
work=$(mktemp -d "${TMPDIR:-/tmp}/branchsync-demo.XXXXXX")
hub_pid=
cleanup() {
	[ -z "$hub_pid" ] || kill "$hub_pid" 2>/dev/null || true
	[ -z "$hub_pid" ] || wait "$hub_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export BRANCHSYNC_KEYSTORE="$work/keystore"
store="$work/tablet"
laptop="$work/laptop"
pin="$work/pin"
printf '%s\n' "8086-Demo" >"$pin"
# --pin-fd reads the PIN from a descriptor: what a script does.  A person
# at a terminal types it and sees no echo.
run() {
	echo
	echo "\$ branchsync $*"
	"$bs" --store "$store" --pin-fd 3 "$@" 3<"$pin"
}
on_laptop() {
	echo
	echo "\$ branchsync $*    (Wang Fang's laptop)"
	"$bs" --store "$laptop" --pin-fd 3 "$@" 3<"$pin"
}
ho() {
	echo
	echo "\$ branchsync-hub $*"
	"$hubc" "$@" --dir "$work/hub"
}
step() {
	echo
	echo "=== $*"
}

now_ms=$(($(date +%s) * 1000))
step "Head office exports 300 complaints for branch BR-0101 (deterministic, seed 42)"
"$gen" --seed 42 --tickets 300 --branch BR-0101 --staff li.wei,wang.fang \
	--now "$now_ms" >"$work/export.jsonl"
echo "$(wc -l <"$work/export.jsonl") lines, $(wc -c <"$work/export.jsonl") bytes"

step "Head office starts its hub on loopback and takes in the complaints"
ho init >/dev/null
"$hubc" serve --dir "$work/hub" --listen 127.0.0.1:0 >"$work/hub.out" 2>&1 &
hub_pid=$!
url=
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	url=$(grep -o 'https://[^ ]*' "$work/hub.out" 2>/dev/null | head -n 1)
	[ -n "$url" ] && break
	sleep 0.5
done
[ -n "$url" ] || { cat "$work/hub.out"; echo "the hub did not start" >&2; exit 1; }
url=$(echo "$url" | sed 's#127.0.0.1#localhost#; s#/$##')
echo "hub at $url"
ho import "$work/export.jsonl"

step "IT enrolls Li Wei's tablet and Wang Fang's laptop (the branch manager)"
echo
echo "\$ branchsync-hub enroll-code --branch BR-0101 --staff li.wei"
code_tablet=$("$hubc" enroll-code --dir "$work/hub" --branch BR-0101 --staff li.wei | head -n 1)
echo "$code_tablet"
echo "\$ branchsync-hub enroll-code --branch BR-0101 --staff wang.fang --role manager"
code_laptop=$("$hubc" enroll-code --dir "$work/hub" --branch BR-0101 --staff wang.fang --role manager | head -n 1)
echo "$code_laptop"
run init --staff li.wei --branch BR-0101
run enroll "$url" "$code_tablet"
"$bs" --store "$laptop" --pin-fd 3 init --staff wang.fang --branch BR-0101 --role manager 3<"$pin" >/dev/null
on_laptop enroll "$url" "$code_laptop"

step "Both pull their scope while in the office (paged, resumable)"
run sync
on_laptop sync

step "On the train, no signal: her queue, most urgent first"
run list --limit 12
ref=$("$bs" --store "$store" --pin-fd 3 --json list 3<"$pin" |
	grep -o '"ref":"[^"]*"' | head -n 1 | cut -d'"' -f4)

step "The most urgent complaint, with the call transcript and the customer's history"
run show "$ref"

step "She answers from a template, notes the call plan, and starts work"
run templates
tmpl=$("$bs" --store "$store" --pin-fd 3 --json templates 3<"$pin" |
	grep -o '"id":"[^"]*"' | head -n 1 | cut -d'"' -f4)
run reply "$ref" --template "$tmpl"
run show "$ref" | tail -n 8
run note "$ref" "已致电客户，约定明天上午十点回访，届时提供扣款流水。"
run move "$ref" in_progress
run move "$ref" closed || echo "(refused, as it must be: only head office closes)"

step "A customer walks in at the counter"
run new --category PAY-GAS --channel branch --subject "燃气费重复扣款" \
	--description "客户到柜台反映本月燃气费被扣两次，共计416元，要求退还。" \
	--customer-name "王建国" --customer-phone 13912345678

step "\"That gas-payment complaint from last week\": two Chinese characters"
run search 燃气 --limit 5
run search refund --limit 3 || true

step "Everything waits for head office in the outbox"
run status

step "Meanwhile head office closes one of Li Wei's tickets and reassigns another"
closed_ref=$("$bs" --store "$store" --pin-fd 3 --json list --status dispatched 3<"$pin" |
	grep -o '"ref":"[^"]*"' | sed -n 2p | cut -d'"' -f4)
moved_ref=$("$bs" --store "$store" --pin-fd 3 --json list --status dispatched 3<"$pin" |
	grep -o '"ref":"[^"]*"' | sed -n 3p | cut -d'"' -f4)
ho move "$closed_ref" closed --reason "客户来电确认问题已解决"
ho assign "$moved_ref" --branch BR-0101 --staff wang.fang

step "Offline, Li Wei still answers both of them"
run reply "$closed_ref" "您好，已为您核实，款项将于三个工作日内退回。"
run note "$moved_ref" "客户希望下午联系，已记录。"
on_laptop note "$ref" "经理已阅，同意先行垫付。"

step "A link appears: everyone syncs"
run sync
on_laptop sync
run sync
run show "$closed_ref" | head -n 6
run conflicts
cid=$("$bs" --store "$store" --pin-fd 3 --json conflicts 3<"$pin" |
	grep -o '"id":[0-9]*' | head -n 1 | cut -d: -f2)
if [ -n "$cid" ]; then
	run conflicts show "$cid"
	run conflicts resolve "$cid" --take-theirs
fi
run status | sed -n '/outbox/,/sync/p'

step "Head office's view: first-response times and close rate per branch"
ho report

step "And a lost tablet gives nothing away"
db=$(ls "$store"/store-*.db | head -n 1)
echo "\$ sqlite3 $(basename "$db") .tables"
if command -v sqlite3 >/dev/null 2>&1; then
	sqlite3 "$db" .tables 2>&1 || true
fi
echo "\$ grep -c 燃气 / 王建国 / 13912345678 in every file of the store"
for needle in 燃气 王建国 13912345678 "$ref"; do
	n=$(cat "$store"/* 2>/dev/null | grep -c -a "$needle" || true)
	echo "  $needle: $n matching lines"
done
run doctor
