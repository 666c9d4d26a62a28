//go:build js && wasm

// Command hello is the harness's own check: a Go program compiled for the
// browser that reports through the global the harness waits for.
package main

import "syscall/js"

func main() {
	js.Global().Set("plexusResult", `{"hello":"from wasm"}`)
}
