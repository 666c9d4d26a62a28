package svc

import "context"

//plexus:service
type S interface {
	Do(ctx context.Context, v map[string]any) error
}
