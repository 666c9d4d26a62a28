package svc

import (
	"context"

	"github.com/plexus-ipc/plexus/session"
)

type ID int32

//plexus:service
type S interface {
	Get(ctx context.Context, id ID, keys []string) (map[string]*ID, error)
	Watch(ctx context.Context, from ID, send func(ID) error) error
	Flip(ctx context.Context, l *session.Lease) (*session.Lease, error)
	Bytes(ctx context.Context, b []byte) ([]byte, error)
	Pour(ctx context.Context, send func(*session.Lease) error) error
}
