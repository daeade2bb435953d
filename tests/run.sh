#!/bin/sh
# run.sh BUILD_DIR... - run every test binary under each build folder,
# print what each reported, and end with one line the CI reads:
# "N passed, N failed".  A binary that dies without cmocka's summary
# counts as one failure.  BS_TEST_WRAPPER, if set, goes before each
# binary (qemu-user for the ARM builds) and is exported to the tests, so
# that those which run the branchsync command can run it the same way.
set -u
export BS_TEST_WRAPPER=${BS_TEST_WRAPPER:-}
passed=0
failed=0
# A test binary that hangs fails on its own instead of running into the
# CI's limit: the slowest (under qemu-user) take a few minutes.
limit=${BS_TEST_LIMIT:-1800}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for dir in "$@"; do
	echo "== tests in $dir"
	for t in $(find "$dir/tests/unit" "$dir/tests/fault" "$dir/tests/integration" -type f -perm -u+x 2>/dev/null | sort); do
		# shellcheck disable=SC2086 # the wrapper is words
		timeout -k 10 "$limit" $BS_TEST_WRAPPER "$t" >"$log" 2>&1
		rc=$?
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
			echo "$t: still running after $limit s, stopped" >>"$log"
		fi
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
		p=${p:-0}
		f=${f:-0}
		if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1
		fi
		if [ "$f" -ne 0 ]; then
			cat "$log"
			echo "FAIL $t (exit $rc)"
		else
			echo "ok   $t: $p passed"
		fi
		passed=$((passed + p))
		failed=$((failed + f))
	done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
