//go:build linux

// Command bus shows publish/subscribe across plugin processes: the host
// holds a bus (package bus) and serves it to three plugins over their
// shared-memory links (bus/buslink); each plugin subscribes through a
// buslink.Client, as a plugin of yours would.
//
//   - Events fan out to every plugin: the host publishes "doc.<id>.saved"
//     and each plugin, subscribed to "doc.*.saved", reports it saw it.
//
//   - Jobs spread over a queue group: the plugins are members of the
//     group "workers" on "jobs.resize"; each job is done by one of them,
//     once, and the demo prints who did which.
//
//   - A large frame (16 MiB) is broadcast without copies: the host seals
//     it once (buslink.Sealed: the one copy), every plugin reads the same
//     pages in place, and the demo prints the bytes copied (the seal's
//     and, from the links' transport statistics, the links') and the time
//     until every plugin had read it.
//
//     go run ./demos/bus [-jobs 12] [-frame-mib 16]
//
// Lifetime and concurrency: a program run once. The same binary is the
// host and, started by the host, each of its plugins; everything it
// starts ends with it.
package main
