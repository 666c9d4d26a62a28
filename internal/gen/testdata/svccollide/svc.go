package svc

import "context"

//plexus:service name=svc.S579599
type A interface {
	Do(ctx context.Context) error
}

//plexus:service name=svc.S762382
type B interface {
	Do(ctx context.Context) error
}
