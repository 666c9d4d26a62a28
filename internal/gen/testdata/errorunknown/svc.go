package svc

import "context"

//plexus:service
//plexus:errors Nope
type S interface {
	Do(ctx context.Context) error
}
