package main

import "github.com/plexus-ipc/plexus/bench/peers/udspeer"

func main() { udspeer.Serve() }
