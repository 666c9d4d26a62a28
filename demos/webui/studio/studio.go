package studio

import "context"

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Studio runs the image pipeline for a remote caller (a browser page) and
// reports each stage as it finishes.
//
//plexus:service
type Studio interface {
	// Run draws a width x height test picture, has the image plugin make
	// it grayscale, blur it (radius pixels) and halve it, encodes the
	// half-size image as PNG, and sends one Step per stage (server
	// streaming): "draw", "plugin: grayscale", "plugin: blur",
	// "plugin: halve", "encode", then "done" carrying the PNG.
	Run(ctx context.Context, width, height, radius int, send func(Step) error) error
}
