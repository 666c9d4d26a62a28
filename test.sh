#!/usr/bin/env bash
# Runs the whole plexus test suite: static checks, every test under the race
# detector (cross-process tests shrink their counts under -race), then the
# full-size cross-process tests and the allocation counts (meaningless under
# the race detector) without it. Needs only Go.
set -euo pipefail
cd "$(dirname "$0")"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

echo "== what the Python plugin tests need (Debian's python3-msgpack), installed if missing"
./python/install-deps.sh

echo "== go vet"
go vet ./...

echo "== go test -race (all packages)"
# The conformance suite across processes runs in the last stage, full size and
# without the race detector; here the same scenarios run in-process under it,
# which keeps this stage within the suite's time budget on two cores.
go test -race -count=1 -timeout 20m -skip 'TestCrossProcessConformance' ./...

echo "== host lifecycle tests over the socket link: inherited, then connecting back as on Windows"
PLEXUS_TEST_LINK=socket go test -race -count=1 ./host
PLEXUS_TEST_LINK=dialback go test -race -count=1 ./host

echo "== every package vetted (so built, tests included) for macOS, Windows and FreeBSD"
for goos in darwin windows freebsd; do
	for goarch in amd64 arm64; do
		echo "   $goos/$goarch"
		GOOS=$goos GOARCH=$goarch go vet ./...
	done
done

echo "== otelplexus (a module of its own): vet and tests under the race detector"
(cd otelplexus && go vet ./... && go test -race -count=1 ./...)

echo "== natsbridge (a module of its own): vet and tests under the race detector, NATS in-process"
(cd natsbridge && go vet ./... && go test -race -count=1 ./...)

echo "== browser tests (a module of its own): headless Chromium, installed if missing"
./scripts/install-browser.sh
(cd browser && go vet ./... && go test -count=1 ./...)

echo "== go test (full-size cross-process and conformance runs, allocation counts, plexus bench's own test, no race detector)"
# Most packages have no such test: their "[no tests to run]" lines are left out.
go test -count=1 -timeout 20m -run 'CrossProcess|Conformance|Allocs|BenchQuickTiny' ./... | { grep -v '\[no tests to run\]' || true; }

echo "== all tests passed"
