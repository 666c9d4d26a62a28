package svc

import "context"

//plexus:service
type S interface {
	Do(ctx context.Context) error
}

// NewSService is a constructor written before the generator wrote one of
// that name.
func NewSService() S { return nil }
