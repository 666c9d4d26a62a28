package svc

import "context"

//plexus:service
type S interface {
	//plexus:notfy
	Do(ctx context.Context) error
}
