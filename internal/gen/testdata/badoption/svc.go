package svc

import "context"

//plexus:service nmae=x
type S interface {
	Do(ctx context.Context) error
}
