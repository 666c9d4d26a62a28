package svc

import "context"

//plexus:service
type S interface {
	Do(ctx context.Context, a [4]byte) error
}
