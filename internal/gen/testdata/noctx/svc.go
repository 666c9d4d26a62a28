package svc

//plexus:service
type S interface {
	Do(x int) error
}
