package svc

import "context"

//plexus:service
type S interface {
	Do(ctx context.Context, f func(int) int) error
}
