package svc

import "context"

//plexus:service
type S interface {
	Watch(ctx context.Context, send func(int) error) error
	OpenWatch(ctx context.Context) error
}
