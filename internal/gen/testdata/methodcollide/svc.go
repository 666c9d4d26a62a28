package svc

import "context"

//plexus:service
type S interface {
	M983717(ctx context.Context) error
	M1020800(ctx context.Context) error
}
