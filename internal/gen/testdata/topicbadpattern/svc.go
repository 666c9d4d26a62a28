package svc

import "context"

//plexus:service
type S interface {
	Do(ctx context.Context) error
}

// T is marked with a pattern that is not one.
//
//plexus:topic a..b
type T struct{}
