package svc

import "context"

type S interface {
	Do(ctx context.Context) error
}
