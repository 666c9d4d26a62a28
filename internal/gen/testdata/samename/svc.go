package svc

import "context"

//plexus:service name=x.Y
type A interface {
	Do(ctx context.Context) error
}

//plexus:service name=x.Y
type B interface {
	Do(ctx context.Context) error
}
