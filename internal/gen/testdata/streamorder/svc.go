package svc

import "context"

//plexus:service
type S interface {
	Do(ctx context.Context, send func(int) error, x int) error
}
