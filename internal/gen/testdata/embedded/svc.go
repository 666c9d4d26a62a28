package svc

import "context"

type Base interface {
	Ping(ctx context.Context) error
}

//plexus:service
type S interface {
	Base
	Do(ctx context.Context) error
}
