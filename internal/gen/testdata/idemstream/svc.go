package svc

import "context"

//plexus:service
type S interface {
	//plexus:idempotent
	Do(ctx context.Context, send func(int) error) error
}
