package svc

import "context"

//plexus:service
type S interface {
	//plexus:topic a.b
	Do(ctx context.Context) error
}
