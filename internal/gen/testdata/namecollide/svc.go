package svc

import "context"

//plexus:service
type A interface {
	Do(ctx context.Context) error
}

//plexus:service
type NewA interface {
	Do(ctx context.Context) error
}
