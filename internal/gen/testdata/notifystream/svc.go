package svc

import "context"

//plexus:service
type S interface {
	//plexus:notify
	Do(ctx context.Context, recv func() (int, error)) error
}
