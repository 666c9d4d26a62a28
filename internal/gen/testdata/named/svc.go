package svc

import "context"

// S has a chosen wire name.
//
//plexus:service name=acme.Storage
type S interface {
	Do(ctx context.Context, x uint) (float32, error)
}
