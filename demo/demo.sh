#!/bin/sh
# demo.sh BUILD_DIR - a branch employee's offline day, end to end, on the
# real commands: head office's export is generated and imported, the
# queue is worked without a connection, and the store on disk is shown
# to give nothing away.  Runs in a temporary folder it removes.
set -eu
build=${1:-build/native}
bs="$build/branchsync"
gen="$build/branchsync-gen"
work=$(mktemp -d "${TMPDIR:-/tmp}/branchsync-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export BRANCHSYNC_KEYSTORE="$work/keystore"
store="$work/tablet"
pin="$work/pin"
printf '%s\n' "8086-Demo" >"$pin"
# --pin-fd reads the PIN from a descriptor: what a script does.  A person
# at a terminal types it and sees no echo.
run() {
	echo
	echo "\$ branchsync $*"
	"$bs" --store "$store" --pin-fd 3 "$@" 3<"$pin"
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

step "IT prepares Li Wei's tablet: an encrypted store, opened by her PIN"
run init --staff li.wei --branch BR-0101
run import "$work/export.jsonl"

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
