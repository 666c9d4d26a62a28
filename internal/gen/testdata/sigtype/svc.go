package svc

import "context"

type ID int64

//plexus:service
type S interface {
	Get(ctx context.Context, id ID, keys []string) (map[string]*ID, error)
	Watch(ctx context.Context, from ID, send func(ID) error) error
}
