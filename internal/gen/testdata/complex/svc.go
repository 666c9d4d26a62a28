package svc

import "context"

//plexus:service
type S interface {
	Do(ctx context.Context, recv func() (complex128, error)) error
}
