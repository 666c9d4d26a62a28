package main

import "github.com/plexus-ipc/plexus/bench/peers/netrpcpeer"

func main() { netrpcpeer.Serve() }
