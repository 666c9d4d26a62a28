package svc

import (
	"context"

	"github.com/plexus-ipc/plexus/session"
)

//plexus:service
type S interface {
	//plexus:notify
	Do(ctx context.Context, tag string, l *session.Lease) error
}
