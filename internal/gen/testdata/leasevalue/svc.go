package svc

import (
	"context"

	"github.com/plexus-ipc/plexus/session"
)

//plexus:service
type S interface {
	Do(ctx context.Context, l session.Lease) error
}
