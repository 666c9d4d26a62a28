package main

import (
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
)

// The services, described by hand (generated code would emit these
// descriptions): the plugin serves example.Greeter, the host
// example.Titles, which Greet calls back.
const (
	cookie   = "otelplexus-example"
	greeter  = "example.Greeter"
	titles   = "example.Titles"
	exampSig = 0x0e1 // each method's signature hash, the same on both sides
)

var (
	greetID = plexus.MethodID(greeter, "Greet")
	titleID = plexus.MethodID(titles, "Title")
)

// greeterDesc is what the host expects the plugin to serve; its method
// names name the host's spans and metrics.
var greeterDesc = host.ServiceDesc{Name: greeter, Methods: []host.MethodDesc{
	{Name: "Greet", Kind: plexus.Unary, Signature: exampSig},
}}

// titlesDesc is what the plugin calls on the host; the host checks it at
// link time and the plugin's spans are named after it.
var titlesDesc = host.ServiceDesc{Name: titles, Methods: []host.MethodDesc{
	{Name: "Title", Kind: plexus.Unary, Signature: exampSig},
}}
