package main

import "github.com/plexus-ipc/plexus/bench/peers/plexuspeer/plexusplugin"

func main() { plexusplugin.Serve() }
