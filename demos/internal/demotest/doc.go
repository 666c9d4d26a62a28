// Package demotest is what the demos' tests share. Main is their TestMain:
// the test binary can then be the demo's plugin, as the demo's own binary
// is. Run runs a demo's host part as its main would and returns what it
// printed.
package demotest
