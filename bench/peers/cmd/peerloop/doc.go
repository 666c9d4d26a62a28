// Command peerloop runs one figure of the comparison against one peer in a
// loop, for a profiler to watch: the comparison's phases last a fraction
// of a second each, too short for perf record or perf sched to see
// anything. It prints the host's and the plugin's process IDs first, so
// that perf can attach to them, then the figure.
//
//	go build -o /tmp/plexus-plugin ./cmd/plexus-plugin
//	go run ./cmd/peerloop -plugin /tmp/plexus-plugin -c 64 -d 10s   # echo
//	go run ./cmd/peerloop -plugin /tmp/plexus-plugin -figure kill -n 20
//	go run ./cmd/peerloop -plugin /tmp/plexus-plugin -figure blob -size 64 -n 4 -d 5s
//
// Flags: -peer plexus|grpc|netrpc|uds (default plexus; -plugin must be
// that peer's plugin binary), -figure echo|kill|put|blob|copy, -c callers
// and -d duration (echo; put, blob and copy: how long to repeat batches), -gap a
// pause before each call (echo: sporadic calls, 1ms as plexus bench's
// sporadic figure), -n kills
// (kill) or calls a batch (put, blob, copy: each way), -size MiB a call
// (put, blob, copy),
// -load idle|busy|alloc (the comparison's loaded conditions, started and
// stopped here), -probe how long to measure the machine's own stalls
// first (internal/stallprobe, in the condition; default 300ms, 0 for
// none): the machine moves between faster and slower states within
// minutes, and runs compared with each other are read with its state.
//
// echo prints calls/s and caller 0's round-trip percentiles, and each
// side's processor time a call (its threads' schedstat, Linux); kill, each
// kill's time from SIGKILL to the blocked caller's error, and the median;
// put and blob, every batch's GB/s and the median; copy, Put and Blob in
// alternating turns as the comparison measures them, every batch's
// Blob/Put ratio and the medians. Kills and batches are measured by the
// driver's own code (driver.KillBlocked, PutRate, BlobRate, CopyRates), but
// this is a tool for finding where time goes, not the comparison: figures
// for the record come from cmd/peers.
//
// Lifetime and concurrency: one loop per process; every loop is bounded
// by -d or -n and by the context.
package main
