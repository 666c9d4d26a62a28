package svc

import "context"

type Plain struct{ X int }

//plexus:service
type S interface {
	Do(ctx context.Context) (Plain, error)
}
