package svc

import "context"

//plexus:service
type S interface {
	Do(ctx context.Context, m map[string][]chan int) error
}
