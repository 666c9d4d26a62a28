package main

import "github.com/plexus-ipc/plexus/bench/peers/grpcpeer"

func main() { grpcpeer.Serve() }
