package svc

import "context"

//plexus:service
//plexus:notify
type S interface {
	Do(ctx context.Context) error
}
