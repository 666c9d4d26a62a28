package svc

import "context"

//plexus:service
//plexus:errors other.Err
type S interface {
	Do(ctx context.Context) error
}
