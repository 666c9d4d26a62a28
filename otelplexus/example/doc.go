// Command example traces and measures the calls between a plexus host and
// its plugin with otelplexus: the host calls the plugin's
// example.Greeter.Greet three times, and each Greet calls back the host's
// example.Titles.Title (the last one for a name the host has no title
// for, so that it fails with NOT_FOUND, on both sides of both calls).
//
//	go run ./example                              # from otelplexus/
//	go run ./example -serve -metrics-addr 127.0.0.1:9464
//
// What it prints, on standard output:
//
//   - every span as one JSON line of the stdout exporter (stdouttrace),
//     the host's and the plugin's, told apart by their resource's
//     service.name (otelplexus-example-host, otelplexus-example-plugin).
//     The plugin writes its spans to its own standard output; plexus
//     forwards a plugin's stdout into the host's log, and the host here
//     also copies it raw, line by line, onto its own (host.Config.Stdout),
//     with a log level (Warn) that leaves the forwarded copies out. Each
//     Greet is one trace of four spans across the two processes: host
//     client Greet, plugin server Greet, plugin client Title, host server
//     Title, each the child of the one before.
//   - the metrics endpoint (Prometheus text format, at -metrics-addr,
//     default 127.0.0.1:0: a free port on loopback) and, once the plugin
//     is closed, the plexus_ lines of one scrape of it: the host's calls
//     (plexus_side="calling": Greet, and the link's own Shutdown at
//     Close) and the calls it served (plexus_side="serving": Title). The
//     plugin exports no metrics here; a plugin of a real deployment would
//     give its own meter provider an exporter of its own (OTLP, say).
//
// With -serve the endpoint stays up after that, for a person to scrape,
// until SIGINT or SIGTERM.
//
// Lifetime and concurrency: a program run once. The same binary is the
// host and, started by the host (PLEXUS_PLUGIN set), its plugin; the
// plugin ends when the host closes it, and dies with the host. Spans are
// written as they end, from the goroutines of the calls, whole lines at a
// time.
package main
