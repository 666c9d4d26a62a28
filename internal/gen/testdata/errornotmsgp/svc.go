package svc

import "context"

type Plain struct{}

func (*Plain) Error() string { return "plain" }

//plexus:service
type S interface {
	//plexus:errors Plain
	Do(ctx context.Context) error
}
