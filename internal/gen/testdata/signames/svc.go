package svc

import "context"

type ID int32

//plexus:service
type S interface {
	Get(ctx context.Context, key ID, names []string) (map[string]*ID, error)
	Watch(ctx context.Context, start ID, out func(ID) error) error
}
