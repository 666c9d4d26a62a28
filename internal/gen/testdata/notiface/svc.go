package svc

//plexus:service
type S struct{}
