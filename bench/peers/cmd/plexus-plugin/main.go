package main

import "github.com/plexus-ipc/plexus/bench/peers/plexuspeer"

func main() { plexuspeer.Serve() }
